# airline-pipeline: the README's commands.
#   make install   - .venv with everything (aws-sam-cli, MiniStack, the package + its CLI), the Glue
#                    (Python 3.9) test venv, checkov, and the npm asl-validator. Safe to rerun.
#   make demo      - the whole pipeline on the local AWS emulator with a DuckDB warehouse
#   make test      - lint, types, template checks, sam build, and every test tier
#   make burst     - the issue-13 burst at full size: 200 files + 10 duplicates on the emulator (~12 min)
# Pins: constraints.txt (regenerate with `make lock`).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
# The Glue Python shell runs Python 3.9: the engine-side code is tested under it too.
PYTHON39 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.9*/bin/python3.9) $(shell command -v python3.9))
VENV := .venv
BIN := $(VENV)/bin
GLUE39 := $(VENV)/opt/glue39
CHECKOV := $(VENV)/opt/checkov
# The AWS-managed AWS SDK for pandas layer, reproduced from constraints.txt's #aws-sdk-pandas-layer pins.
PANDAS_LAYER := $(VENV)/opt/aws-sdk-pandas-layer
# The Glue job's own libraries (engine, redshift extras) plus what the tests import.
GLUE39_PACKAGES := ".[engine,redshift]" pytest pytest-timeout moto sqlglot hypothesis beautifulsoup4 pydantic-settings
PIP_FLAGS := --disable-pip-version-check --quiet
# This machine's pip config lists local index folders that may not exist; drop those warnings only.
PIP_NOISE := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
# sam and boto3 want credentials and a region even offline; none of the checks below calls AWS.
OFFLINE_AWS := AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline AWS_DEFAULT_REGION=us-east-1 \
	SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true

.PHONY: help install demo test lint typecheck template unit glue39 e2e burst bench lock clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

INSTALLED := $(VENV)/.installed $(GLUE39)/.installed $(CHECKOV)/.installed $(PANDAS_LAYER)/.installed \
	node_modules/.installed

# The four environments are independent: build them side by side (output kept per target).
install:
	@$(MAKE) --no-print-directory --jobs=4 --output-sync=target $(INSTALLED)

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x "$(BIN)/python" || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip $(PIP_NOISE)
	$(BIN)/python -m pip install $(PIP_FLAGS) --constraint constraints.txt --editable ".[dev]" $(PIP_NOISE)
	$(BIN)/airline-pipeline --version
	touch $@

$(GLUE39)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON39)" || { echo "Python 3.9 not found: set PYTHON39=/path/to/python3.9"; exit 1; }
	test -x "$(GLUE39)/bin/python" || $(PYTHON39) -m venv $(GLUE39)
	$(GLUE39)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip $(PIP_NOISE)
	$(GLUE39)/bin/python -m pip install $(PIP_FLAGS) --constraint constraints.txt --editable $(GLUE39_PACKAGES) $(PIP_NOISE)
	touch $@

# checkov pins a boto3 that conflicts with aws-sam-cli's, so it gets a venv of its own.
$(CHECKOV)/.installed: constraints.txt
	test -x "$(CHECKOV)/bin/python" || $(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install $(PIP_FLAGS) "$$(grep -E '^checkov==' constraints.txt | cut -d' ' -f1)" $(PIP_NOISE)
	touch $@

# What ReportFunction's managed layer holds (python3.11, x86_64 wheels, no dependency resolution: the pins
# are the release's whole set), for tests/integration/test_layer_stack.py. Regenerate the pins with
# tools/aws_sdk_pandas_layer.py. The real layer compiles numpy/pandas/pyarrow on Amazon Linux 2; some of
# those versions have manylinux_2_28 wheels only, which is close enough to test Python-level behaviour.
$(PANDAS_LAYER)/.installed: constraints.txt
	rm -rf $(PANDAS_LAYER) && mkdir -p $(PANDAS_LAYER)
	sed -n 's/^#aws-sdk-pandas-layer //p' constraints.txt > $(PANDAS_LAYER)/requirements.txt
	$(PYTHON) -m pip install $(PIP_FLAGS) --no-deps --no-compile --target $(PANDAS_LAYER)/python \
		--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --implementation cp --python-version 3.11 \
		--only-binary=:all: --requirement $(PANDAS_LAYER)/requirements.txt $(PIP_NOISE)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: install
	$(BIN)/airline-pipeline demo

test: install lint typecheck template unit glue39 e2e

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

template:
	$(OFFLINE_AWS) $(BIN)/sam validate --lint
	node_modules/.bin/asl-validator --json-path statemachine/pipeline.asl.json
	$(CHECKOV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	$(OFFLINE_AWS) $(BIN)/sam build

# pytest exits 5 when it collects nothing: make treats that as the failure it is.
unit:
	$(BIN)/pytest tests/unit tests/integration

glue39:
	$(GLUE39)/bin/python -m pytest -m glue39 tests/unit tests/integration

e2e:
	$(BIN)/pytest tests/e2e

# The issue-13 burst at full size (200 files + 10 duplicates; ~12 min on 2 shared cores). `make e2e`
# runs it with 50 files to keep CI within its budget (docs/scale.md).
burst:
	AIRLINE_PIPELINE_BURST_FILES=200 $(BIN)/pytest tests/e2e/test_burst.py

bench: install
	$(BIN)/python -m bench.run

# Re-resolve every pin from pyproject.toml (needs the package index), then `make install`.
lock:
	rm -rf .lock && $(PYTHON) -m venv .lock/311 && $(PYTHON39) -m venv .lock/39
	.lock/311/bin/pip install $(PIP_FLAGS) ".[dev]"
	.lock/39/bin/pip install $(PIP_FLAGS) $(GLUE39_PACKAGES)
	{ sed -n '1,/^checkov==/p' constraints.txt; \
	  .lock/311/bin/pip freeze --exclude-editable | grep -v '^airline-pipeline' | sed 's/$$/ ; python_version >= "3.10"/'; \
	  .lock/39/bin/pip freeze --exclude-editable | grep -v '^airline-pipeline' | sed 's/$$/ ; python_version < "3.10"/'; \
	} > constraints.txt.new && mv constraints.txt.new constraints.txt && rm -rf .lock

clean:
	rm -rf .aws-sam .local build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
