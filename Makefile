# Every command developers, CI (.ci/run) and the GitHub workflow run. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Node.js 22 from node_modules (the `node` devDependency) for npx, the CDK CLI and jsii (which runs
# `node` from PATH), whatever Node the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
# Offline CDK: no telemetry, no version check, no notices.
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
CDK := npx --no-install cdk --no-notices

# make deploy IMAGE_SOURCE=ecr IMAGE_TAG=<tag pushed by make images>; CDK_ARGS for anything else.
# make deploy-images deploys only the repositories (before the first make images).
IMAGE_SOURCE ?=
IMAGE_TAG ?=
CDK_ARGS ?=
STACKS ?= --all
# CI passes APPROVAL=never: there the GitHub environment's reviewers are the approval.
APPROVAL ?= broadening
CONTEXT := $(if $(IMAGE_SOURCE),-c image_source=$(IMAGE_SOURCE)) $(if $(IMAGE_TAG),-c image_tag=$(IMAGE_TAG)) $(CDK_ARGS)

.PHONY: sweep backfill
.PHONY: help install demo invoke search-folder test lint synth diff deploy deploy-images destroy images clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed ## Create .venv and node_modules from the pinned requirements

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-model.txt lambda_search/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: install ## Run the whole system on emulated AWS (127.0.0.1) and search "a man riding a bicycle"
	$(BIN)/python -m local.demo

invoke: install ## Invoke a function locally with a test event: make invoke FN=clip EVENT=events/clip-text.json
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=clip|search|batch EVENT=events/<file>.json"; exit 2; }
	$(BIN)/python -m local.invoke "$(FN)" "$(EVENT)"

search-folder: install ## Index a folder of your images as a video and search it: make search-folder FOLDER=... QUERY="..."
	@test -n "$(FOLDER)" -a -n "$(QUERY)" || { echo 'usage: make search-folder FOLDER=path QUERY="a dog on a beach"'; exit 2; }
	$(BIN)/python -m local.folder_search "$(FOLDER)" "$(QUERY)"

sweep: install ## Run the scheduled sweep once on the local system (processed videos without a cache get queued)
	$(BIN)/python -m local.sweep

backfill: install ## Queue every processed video of the deployed stack for embedding (VIDEOS="id ..." for some)
	$(BIN)/python -m scripts.backfill $(VIDEOS) $(CDK_ARGS)

test: lint ## Lint, type-check and run the test suite (the README's test command)
	$(BIN)/pytest

# One layer each, without lint (tests/conftest.py puts every test in exactly one layer).
.PHONY: test-unit test-integration test-infra
test-unit: install ## Unit tests only: each function in-process on moto, tiny model (under a minute)
	$(BIN)/pytest -m unit

test-integration: install ## Integration tests: functions through the local Lambda endpoint, the demo, tools
	$(BIN)/pytest -m integration

test-infra: install ## Infra tests: CDK synth, IAM, cdk-nag, cfn-lint, hadolint, the CI workflow
	$(BIN)/pytest -m infra

lint: install ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

synth: install ## Synthesize both stacks into cdk.out/ (offline)
	$(CDK) synth --quiet $(CONTEXT)

diff: install ## Compare the stacks with what is deployed
	$(CDK) diff $(STACKS) $(CONTEXT)

deploy: install ## Deploy both stacks (asset mode builds the images with Docker)
	$(CDK) deploy $(STACKS) --require-approval $(APPROVAL) $(CONTEXT)

deploy-images: install ## Deploy only the image repositories stack (before the first make images)
	stack="$$($(BIN)/python -m stacks.config $(CDK_ARGS) --print images_stack_name)"; \
	$(CDK) deploy "$$stack" --require-approval $(APPROVAL) $(CDK_ARGS)

destroy: install ## Delete the stacks (bucket, table and repositories are retained)
	$(CDK) destroy $(STACKS) $(CONTEXT)

images: install ## Build, tag and push the three images to ECR (IMAGE_TAG=..., default: git commit)
	scripts/push-images.sh "$(or $(IMAGE_TAG),$(shell git rev-parse --short=12 HEAD))" $(CDK_ARGS)

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
