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
		&& cargo test --workspace --all-targets -- --include-ignored \
		&& scripts/infra-test; then \
		echo "make test: lint, executor checks, every workspace test (LocalStack included) and the infra checks passed in $$((SECONDS - started)) s"; \
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

# The local drill: flood -> the victim fails -> the real controller opens the circuit -> the
# excess is shed to the overflow queue -> the victim heals -> half-open -> ramping -> closed
# -> the overflow is replayed; nothing lost. Starts LocalStack (creating its venv if missing),
# builds the controller and victim zips, deploys the demo stack through the SDK under names
# unique to the run, runs loadtest/drills/local-drill.toml (DRILL_SPEC=... for another),
# prints the timeline and the accounting, writes target/drill-reports/*.{json,html}, deletes
# the stack and stops LocalStack, also on failure or Ctrl-C. Exit code as `loadtest drill`.
DRILL_SPEC ?= loadtest/drills/local-drill.toml
drill:
	@started=$$SECONDS; \
	trap 'scripts/local-aws down' EXIT; \
	trap 'exit 130' INT; \
	trap 'exit 143' TERM; \
	scripts/local-aws up; \
	eval "$$(scripts/local-aws env)"; \
	controller_zip="$$(scripts/lambda-zip breaker bootstrap)"; \
	victim_zip="$$(scripts/lambda-zip loadtest victim)"; \
	rc=0; \
	cargo run --quiet -p floodgate-tests --bin local-drill -- --spec "$(DRILL_SPEC)" \
		--controller-zip "$$controller_zip" --victim-zip "$$victim_zip" \
		--out target/drill-reports || rc=$$?; \
	echo "make drill: exit $$rc after $$((SECONDS - started)) s (reports in target/drill-reports)"; \
	exit $$rc

# The infra modules (infra/cdk, infra/terraform): the controller package, jest, synth,
# cfn-lint, checkov, terraform fmt, the static and evaluated Terraform tests, the config-schema
# test against the controller's loader, and a CloudFormation deploy into LocalStack (started
# if it is not running, and stopped again then). See scripts/infra-test.
.PHONY: infra-test
infra-test:
	@scripts/infra-test
