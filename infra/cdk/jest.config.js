// Type checking is `tsc --noEmit` (run first by `make infra-test`); jest only transpiles, which
// keeps the suite fast.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': 'ts-jest',
  },
};
