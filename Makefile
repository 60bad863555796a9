# Every target bootstraps what it needs: a fresh clone runs `make test-local` or `make test` directly.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Where `tapstack up` leaves LocalStack: the external endpoint, else the local gateway.
ENDPOINT ?= $(or $(AWS_ENDPOINT_URL),http://127.0.0.1:$(or $(TAPSTACK_PORT),4566))

.PHONY: help setup lint test-unit test-integration test-local test up down status preflight bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create the test environment (.venv)

lint: $(STAMP)  ## ruff on the whole tree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

preflight: $(STAMP)  ## check the template with the LocalStack parameter set (no LocalStack needed)
	$(BIN)/tapstack preflight --parameters localstack

test-unit: $(STAMP)  ## fast tests, no LocalStack needed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

up: $(STAMP)  ## bring LocalStack up (external, docker or host mode)
	$(BIN)/tapstack up

down: $(STAMP)  ## stop the LocalStack that `up` started
	$(BIN)/tapstack down

status: $(STAMP)  ## which LocalStack runs, where, and whether it is ready
	$(BIN)/tapstack status

test-integration: $(STAMP)  ## the integration suite (brings LocalStack up if needed)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-local: $(STAMP)  ## the main job: LocalStack up, preflight, deploy, end-to-end suite
	$(BIN)/tapstack up
	$(BIN)/tapstack preflight --parameters localstack --endpoint $(ENDPOINT)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test: $(STAMP)  ## every test: unit and integration
	$(BIN)/pytest tests $(PYTEST_ARGS)

bench: $(STAMP)  ## the benchmarks quoted in README.md
	$(BIN)/tapstack bench

clean:  ## remove the test environment and all local state
	-$(BIN)/tapstack down
	rm -rf $(VENV) .tapstack build
