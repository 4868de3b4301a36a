# Floodgate: the commands developers and CI run. `make test` is the one to remember.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

.PHONY: test lint drill local-aws-up local-aws-down

# Formatting and lints, as CI enforces them.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Every test of the workspace, including the ones that need LocalStack (marked #[ignore]),
# and the Python checks of the LocalStack executor plugin.
# LocalStack is started first and stopped afterwards, also when the tests fail.
test: lint
	@started=$$SECONDS; \
	trap 'scripts/local-aws down' EXIT; \
	trap 'exit 130' INT; \
	trap 'exit 143' TERM; \
	scripts/local-aws up; \
	eval "$$(scripts/local-aws env)"; \
	if .local-aws/venv/bin/python -m unittest discover -s tests/localaws \
		&& cargo test --workspace --all-targets -- --include-ignored; then \
		echo "make test: lint, executor checks and every workspace test (LocalStack included) passed in $$((SECONDS - started)) s"; \
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

# The local drill (flood -> trip -> shed -> recover -> replay against LocalStack) lands with the
# drill issue; until then this says so instead of pretending.
drill:
	@echo "make drill: the local drill is not built yet (see README, Roadmap)" >&2; exit 1
