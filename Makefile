# pacsflow — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run stop deploy deploy-regions region-down region-up demo rebuild lint test test-fast bench conformance clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Start MiniStack on 127.0.0.1:4566 (with the state `make stop` saved) and deploy the app to it
## by stack update (writes local-stack.json). REGIONS="us-east-1 eu-west-1": the same stack in
## each Region, linked (replicated tables, archive replication, peers).
run: $(STAMP)
	$(PY) -m infra.deploy local $(if $(REGIONS),--regions "$(REGIONS)")

## Take a local Region's service away (functions throttled to 0, pollers and schedules off), and back.
region-down: $(STAMP)
	@test -n "$(REGION)" || { echo "usage: make region-down REGION=<region>"; exit 2; }
	$(PY) -m infra.regions down $(REGION)

region-up: $(STAMP)
	@test -n "$(REGION)" || { echo "usage: make region-up REGION=<region>"; exit 2; }
	$(PY) -m infra.regions up $(REGION)

## The README's curl walkthrough against the stack `make run` started.
demo:
	infra/walkthrough.sh

## Recompute the transaction view of `make run`'s stack from its events; report differences.
rebuild: $(STAMP)
	$(PY) -m chalicelib.cli rebuild --local-stack local-stack.json

## Stop the MiniStack that `make run` started, gracefully: its state is saved for the next `make run`.
stop: $(STAMP)
	$(PY) -m infra.deploy stop

## Deploy to AWS: the stage is the Region (make deploy STAGE=eu-west-1); boto3's usual credentials.
deploy: $(STAMP)
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=<region>"; exit 2; }
	$(PY) -m infra.deploy aws --stage $(STAGE) $(if $(ARTIFACTS_BUCKET),--artifacts-bucket $(ARTIFACTS_BUCKET))

## Deploy to several AWS Regions, linked: make deploy-regions REGIONS="us-east-1 eu-west-1" CONSISTENCY=mrec
## (CONSISTENCY=mrsc: three Regions, or two and WITNESS=<region>).
deploy-regions: $(STAMP)
	@test -n "$(REGIONS)" || { echo 'usage: make deploy-regions REGIONS="<region> <region>" [CONSISTENCY=mrec|mrsc] [WITNESS=<region>]'; exit 2; }
	$(PY) -m infra.deploy aws-regions --regions "$(REGIONS)" --consistency $(or $(CONSISTENCY),mrec) $(if $(WITNESS),--witness $(WITNESS))

## Lint, format check and type check (settings in pyproject.toml); `make test` runs it first.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## Every test (after lint): unit, eventsourcing contract suites and end-to-end on a local stack of their own.
test: lint $(STAMP)
	$(PY) -m pytest

## Unit tests only (no local stack).
test-fast: $(STAMP)
	$(PY) -m pytest tests/unit

## Benchmarks: prints a table and writes bench/results.json.
bench: $(STAMP)
	$(PY) -m bench

## Every sample of ../shared/iso20022/samples through the offline validator: expected vs actual.
conformance: $(STAMP)
	$(PY) -m chalicelib.cli conformance ../shared/iso20022/samples

clean:
	rm -rf .build .pytest_cache
