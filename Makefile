# Floodgate: the commands developers and CI run. `make test` is the one to remember.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

.PHONY: test local-aws-up local-aws-down

# Every test of the workspace, including the ones that need LocalStack (marked #[ignore]),
# and the Python checks of the LocalStack executor plugin.
# LocalStack is started first and stopped afterwards, also when the tests fail.
test:
	@started=$$SECONDS; \
	trap 'scripts/local-aws down' EXIT; \
	trap 'exit 130' INT; \
	trap 'exit 143' TERM; \
	scripts/local-aws up; \
	eval "$$(scripts/local-aws env)"; \
	if .local-aws/venv/bin/python -m unittest discover -s tests/localaws \
		&& cargo test --workspace --all-targets -- --include-ignored; then \
		echo "make test: all tests passed in $$((SECONDS - started)) s"; \
	else \
		echo "make test: FAILED after $$((SECONDS - started)) s (LocalStack log: .local-aws/localstack.log)"; \
		exit 1; \
	fi

# LocalStack on 127.0.0.1:4566, for running single tests by hand:
#   make local-aws-up && eval "$(scripts/local-aws env)" && cargo test -p floodgate-tests -- --include-ignored
local-aws-up:
	@scripts/local-aws up

local-aws-down:
	@scripts/local-aws down
