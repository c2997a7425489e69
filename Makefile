# Every command developers, CI (.ci/run) and the GitHub workflow run. `make help` lists them.
SHELL := /bin/bash
# GNU make 3.81 (macOS) ignores .SHELLFLAGS: recipes chain their commands with && as well, so a
# failure stops them on every make.
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

# make deploy IMAGE_SOURCE=ecr IMAGE_TAG=<tag pushed by make images> (deploys that tag's digests,
# scripts/image-digests.sh); CDK_ARGS for anything else (-c environment=dev, ...).
# make deploy-images deploys only the repositories (before the first make images).
IMAGE_SOURCE ?=
IMAGE_TAG ?=
CDK_ARGS ?=
# deploy, diff and destroy act on the configuration's deploy_stacks (the service stack, and in ecr mode
# the repositories stack; never the CI set-up stack), or on STACKS when given.
STACKS ?=
STACKS_OF = $(or $(STACKS),$$($(BIN)/python -m deployment.cli $(CONTEXT) --print deploy_stacks))
# CI passes APPROVAL=never: there the GitHub environment's reviewers are the approval.
APPROVAL ?= broadening
CONTEXT := $(if $(IMAGE_SOURCE),-c image_source=$(IMAGE_SOURCE)) $(if $(IMAGE_TAG),-c image_tag=$(IMAGE_TAG)) $(CDK_ARGS)

.PHONY: sweep backfill onnx-model add-video
.PHONY: image-plan image-pushed ecr-login bump-base-image lock
.PHONY: prerequisites browser-prerequisites
.PHONY: help install install-deploy bootstrap check-config check-deploy redeploy-context demo serve invoke search-folder test lint synth diff deploy deploy-images destroy images clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

install: prerequisites $(VENV)/.installed node_modules/.installed ## Create .venv and node_modules from the pinned requirements

# Checked first (serial make takes prerequisites in order): a missing tool stops make in its first
# seconds with the command that installs it (Debian/Ubuntu as root or with sudo: installed here).
prerequisites:
	@$(PYTHON) -m scripts.prerequisites
browser-prerequisites:
	@$(PYTHON) -m scripts.prerequisites --browser

# Synth and deploy need only the CDK app's requirements (no torch): a .venv made by `make install`
# serves them too, else they make one from requirements.txt alone (CI's deploy job).
DEPLOY_VENV := $(if $(wildcard $(VENV)/.installed),$(VENV)/.installed,$(VENV)/.deploy-installed)
install-deploy: prerequisites $(DEPLOY_VENV) node_modules/.installed ## Only what synth/deploy need: requirements.txt and node_modules

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-model.txt requirements-export.txt lambda_search/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(VENV)/.deploy-installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# make demo INDEX_BACKEND=s3vectors: the same demo on the S3 Vectors backend; FRAME_CACHE=packed: with
# no per-frame .npy files.
INDEX_BACKEND ?=
FRAME_CACHE ?=
DEMO_CONTEXT = $(if $(INDEX_BACKEND),-c index_backend=$(INDEX_BACKEND)) $(if $(FRAME_CACHE),-c frame_cache=$(FRAME_CACHE))
demo: install ## Run the whole system on emulated AWS (127.0.0.1) and search "a man riding a bicycle"
	$(BIN)/python -m local.demo $(DEMO_CONTEXT)

serve: install ## The demo, then the whole system and its page kept up until Ctrl-C or SIGTERM (terminal or not)
	$(BIN)/python -m local.demo --serve $(DEMO_CONTEXT)

invoke: install ## Invoke a function locally with a test event: make invoke FN=clip EVENT=events/clip-text.json
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=clip|search|batch|extract EVENT=events/<file>.json"; exit 2; }
	$(BIN)/python -m local.invoke "$(FN)" "$(EVENT)"

search-folder: install ## Index a folder of your images as a video and search it: make search-folder FOLDER=... QUERY="..."
	@test -n "$(FOLDER)" -a -n "$(QUERY)" || { echo 'usage: make search-folder FOLDER=path QUERY="a dog on a beach"'; exit 2; }
	$(BIN)/python -m local.folder_search "$(FOLDER)" "$(QUERY)"

onnx-model: install ## Convert a CLIP save_pretrained folder to the runtime folder: make onnx-model SOURCE=dir TARGET=dir [PRECISION=int8]
	@test -n "$(SOURCE)" -a -n "$(TARGET)" || { echo "usage: make onnx-model SOURCE=<save_pretrained dir> TARGET=<runtime dir> [PRECISION=fp32|int8]"; exit 2; }
	$(BIN)/python -m clipsearch.model.export_onnx "$(SOURCE)" "$(TARGET)" --precision "$(or $(PRECISION),fp32)"

sweep: install ## Run the scheduled sweep once on the local system (processed videos without a cache get queued)
	$(BIN)/python -m local.sweep

add-video: install ## Upload a video file and follow it until searchable: make add-video FILE=x.mp4 [AWS=1] [QUERY="..."]
	@test -n "$(FILE)" || { echo 'usage: make add-video FILE=path/to/video.mp4 [AWS=1 CDK_ARGS=...] [QUERY="a dog"]'; exit 2; }
	$(BIN)/python -m scripts.add_video "$(FILE)" $(if $(AWS),--aws $(CDK_ARGS)) $(if $(QUERY),--query "$(QUERY)")

backfill: install ## Queue every processed video of the deployed stack for embedding (VIDEOS="id ..." for some)
	$(BIN)/python -m scripts.backfill $(VIDEOS) $(CDK_ARGS)

# One worker per core (pytest-xdist), a test file per worker: its module fixtures (servers, the
# browser) start once; the session's synths run once per worker (docs/developers/tests.md: times).
test: browser-prerequisites lint ## Lint, type-check and run the test suite (the README's test command)
	$(BIN)/pytest -n auto --dist loadfile

# One layer each, without lint (tests/conftest.py puts every test in exactly one layer).
.PHONY: test-unit test-integration test-infra
test-unit: install ## Unit tests only: each function in-process on moto, tiny model (under a minute)
	$(BIN)/pytest -m unit

test-integration: install ## Integration tests: functions through the local Lambda endpoint, the demo, tools
	$(BIN)/pytest -m integration

test-infra: install ## Infra tests: CDK synth, IAM, cdk-nag, cfn-lint, hadolint, the CI workflow
	$(BIN)/pytest -m infra

lint: install ## ruff (lint + format check), mypy and the import contracts (.importlinter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bootstrap: install-deploy ## Once per account and region: the scoped execution policies and CDKToolkit-<qualifier>
	scripts/bootstrap.sh $(CDK_ARGS)

check-config: install-deploy ## Validate the configuration (and IMAGE_SOURCE, IMAGE_TAG, CDK_ARGS) without the CDK
	$(BIN)/python -m deployment.cli $(CONTEXT) --print image_source service_stack_name

check-deploy: install-deploy ## check-config, and that what a deploy needs is chosen (bucket_name, alarm_email)
	$(BIN)/python -m deployment.cli $(CONTEXT) --check-deploy --print deploy_stacks

synth: install-deploy ## Synthesize both stacks into cdk.out/ (offline)
	$(CDK) synth --quiet $(CONTEXT)

# In ecr mode the tag is resolved to the three image digests, which deploy and diff pin.
diff: install-deploy ## Compare the stacks with what is deployed
	stacks="$(STACKS_OF)" && digests="$$(scripts/image-digests.sh $(CONTEXT))" && \
	$(CDK) diff $$stacks $(CONTEXT) $$digests

deploy: install-deploy ## Deploy (asset mode builds the images with Docker; ecr mode pins digests)
	$(BIN)/python -m deployment.cli $(CONTEXT) --check-deploy && scripts/check-concurrency.sh $(CONTEXT) && \
	stacks="$(STACKS_OF)" && digests="$$(scripts/image-digests.sh $(CONTEXT))" && \
	$(CDK) deploy $$stacks --require-approval $(APPROVAL) $(CONTEXT) $$digests

deploy-images: install-deploy ## Deploy only the image repositories stack (before the first make images)
	stack="$$($(BIN)/python -m deployment.cli $(CDK_ARGS) --print images_stack_name)" && \
	$(CDK) deploy "$$stack" --require-approval $(APPROVAL) $(CDK_ARGS)

# CONFIRM=<service stack name> confirms without a terminal (scripts/confirm-destroy.sh asks otherwise).
destroy: install-deploy ## Delete the stacks after confirming (the user pool goes; buckets, table, repositories stay)
	stacks="$(STACKS_OF)" && scripts/confirm-destroy.sh $(CONTEXT) && \
	$(CDK) destroy $$stacks --force $(CONTEXT)

images: install-deploy ## Build, tag and push the three images to ECR (IMAGE_TAG=..., default: the commit; clean tree only)
	scripts/push-images.sh "$(or $(IMAGE_TAG),$(shell git rev-parse --short=12 HEAD))" $(CDK_ARGS)

redeploy-context: install-deploy ## Print the -c options that deploy onto what destroy kept (asks AWS for the account)
	@scripts/redeploy-context.sh $(CONTEXT)

# CI's image jobs (.github/workflows/ci.yml): what to build, and whether a tag is pushed already.
BASE ?=
image-plan: install-deploy ## Print the images to build (roles, build arguments, tags) for $$GITHUB_OUTPUT
	$(BIN)/python -m scripts.image_plan --tag "$(IMAGE_TAG)" $(if $(BASE),--base "$(BASE)") $(CDK_ARGS)

image-pushed: install-deploy ## Print digest= of ROLE's image when its immutable tag is pushed already
	scripts/image-pushed.sh "$(ROLE)" -c image_tag="$(IMAGE_TAG)" $(CDK_ARGS)

bump-base-image: ## Move every Dockerfile's base image pin to its tag's current digest (then commit)
	scripts/bump-base-image.sh

lock: install ## Rewrite the images' hash-locked requirements from the pins (requirements*.txt)
	$(BIN)/python -m scripts.lock_requirements

ecr-login: install-deploy ## Log Docker in to the account's ECR registry
	scripts/ecr-login.sh $(CDK_ARGS)

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
