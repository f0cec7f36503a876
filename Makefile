# sentiment-mlops: everyday commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
BIN       := $(VENV)/bin
SENTIMENT := $(BIN)/sentiment
SHARED    ?= $(or $(SENTIMENT_SHARED_DIR),$(abspath ../shared))
TRACE     ?= $(SHARED)/data/traces/nasa_http_1995_per_minute.csv
HOST      ?= 127.0.0.1
PORT      ?= 8000
# The container engine: podman here (../shared/tools/container-env.sh prepares it), docker on
# GitHub's runners. CI's jobs and .ci/run call the same targets; only ENGINE differs.
ENGINE    ?= podman
VERSION   := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
IMAGE     ?= sentiment-api:$(VERSION)
ENGINE_ENV = $(if $(filter podman,$(ENGINE)),source $(SHARED)/tools/container-env.sh >&2 &&,) CONTAINER_ENGINE=$(ENGINE)
export SENTIMENT_DATA_ARCHIVE ?= $(wildcard $(SHARED)/data/imdb/aclImdb_v1.tar.gz)
# dvc.yaml's stages call `sentiment`: put the virtualenv's commands first on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help setup run test test-fast test-integration test-slow test-container lint format repro pipeline \
        bench-model bench-kernels bench-instructions study-short bench-serve bench-container bench-metrics bench-spark wheels image \
        image-smoke image-archive image-load image-scaler image-spark manifests simulate stack serve loop clean \
        system-packages shared

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The package is installed editable; its build (setup.py) compiles the scoring kernels' C extension
# into src/, and uv rebuilds it whenever _kernels.c or one of its _kernels_*.h parts changes
# (pyproject's tool.uv cache-keys).
$(VENV)/.installed: pyproject.toml uv.lock setup.py $(wildcard src/sentiment_mlops/model/_kernels*.[ch])
	@command -v uv >/dev/null || python3 -m pip install --quiet 'uv>=0.4'
	uv sync --frozen --all-extras
	$(PY) -c "from sentiment_mlops.model import kernels; print('scoring kernels:', kernels.info().module)"
	@touch $@

setup: $(VENV)/.installed ## Create the virtual environment, install (locked versions), compile the kernels

run: pipeline ## Set up, run the pipeline, register and promote the model, export the champion, serve it
	$(SENTIMENT) export
	$(SENTIMENT) serve --host $(HOST) --port $(PORT)

repro: setup ## Run the DVC pipeline (only stages whose inputs changed)
	$(SENTIMENT) fetch
	$(BIN)/dvc repro

pipeline: repro ## dvc repro, register, the quality gate (promote); the metrics as a table
	$(SENTIMENT) register
	$(SENTIMENT) promote
	$(BIN)/dvc metrics show --md | tee -a "$${GITHUB_STEP_SUMMARY:-/dev/null}"

system-packages: ## Install the system tools the tests need (prometheus, chromium, wrk, git) with apt
	scripts/ci/system-packages.sh

shared: ## Check the shared test material (../shared), or lay it out there from its pinned public sources
	@if [ -e "$(TRACE)" ] && [ -e "$(SHARED)/schemas/eksctl/clusterconfig_v1alpha5.schema.json" ]; then \
	  echo "shared material: $(SHARED)"; \
	else \
	  python3 scripts/fetch_shared.py --dest "$(SHARED)" $(if $(SENTIMENT_DATA_ARCHIVE),--imdb-archive "$(SENTIMENT_DATA_ARCHIVE)"); \
	fi

# Every tier in turn, each test once (the tiers' markers partition the suite: test_ci_parity checks).
test: test-fast test-integration test-slow test-container ## Run every test: fast, integration, slow (full data), container

# The fast tier: no shared material, no program but Python, no network (tests/hermetic.py checks).
FAST_TIER := not slow and not integration and not container and not shared

test-fast: setup ## Run the hermetic fast tier (no ../shared, no external tool, no network) before every commit
	$(BIN)/pytest -m "$(FAST_TIER)"

test-integration: setup ## Integration tests on 127.0.0.1 and those reading ../shared (not slow, no container)
	$(BIN)/pytest -m "not slow and not container and (integration or shared)"

test-slow: setup ## The slow tests: the full-data pipeline, the trained model's behaviour
	$(BIN)/pytest -m "slow and not container"

test-container: setup ## The container tests (podman): image size, read-only root, metrics
	$(BIN)/pytest -m "container"

lint: setup ## ruff (lint and format check), mypy, hadolint, actionlint (the GitHub workflows)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy src scripts
	$(BIN)/hadolint deploy/Dockerfile deploy/Dockerfile.scaler deploy/Dockerfile.spark
	$(BIN)/actionlint -no-color -shellcheck=$(BIN)/shellcheck -pyflakes=

format: setup ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench scripts
	$(BIN)/ruff format src tests bench scripts

bench-model: setup ## Scoring speed: our model against a scikit-learn pipeline, side by side
	$(PY) bench/bench_model.py

# The study's libraries (gensim, fastText) are the locked `study` group, added to the virtualenv here only.
study-short: setup ## The short slices under other model classes (word vectors, fastText, two tables): reports/model
	uv sync --frozen --all-extras --group study
	$(PY) bench/short_inputs_ceiling.py

bench-kernels: setup ## Where scoring time goes: tokenize+hash, table reads and the whole kernel, per review
	$(PY) bench/bench_kernels.py

# BASE: the revision to compare the committed HEAD with (its C sources built as the wheel builds them).
BASE ?= main
bench-instructions: setup ## Instructions the kernels execute (callgrind): BASE against HEAD, per function
	$(PY) bench/kernel_instructions.py $(BASE) HEAD --out reports/bench/kernel_instructions.json

bench-serve: setup ## HTTP throughput and latency: our service against MLflow's scoring server
	$(PY) bench/bench_serve.py

wheels: setup ## Prepare the image build context: locked wheels, our wheel (with the kernels), the model (build/)
	deploy/build-context.sh api

image: wheels ## Build the API image (IMAGE: sentiment-api:<version>) with ENGINE (podman; docker on GitHub)
	$(ENGINE_ENV) deploy/build-image.sh api $(IMAGE)

image-smoke: ## Run the image read-only and non-root; /readyz and POST /v1/predict must answer
	$(ENGINE_ENV) deploy/run-image-smoke.sh $(IMAGE)

image-archive: ## Save the image for delivery: build/sentiment-api.tar.gz (what CD loads and pushes)
	mkdir -p build
	$(ENGINE_ENV) bash -c '"$$CONTAINER_ENGINE" $${CONTAINER_RUNTIME_FLAGS:-} save "$$0"' $(IMAGE) | gzip > build/sentiment-api.tar.gz.part
	mv build/sentiment-api.tar.gz.part build/sentiment-api.tar.gz

image-load: ## Load the image archive (build/sentiment-api.tar.gz) into ENGINE: CD's first step with CI's image
	@[ -s build/sentiment-api.tar.gz ] || { echo "build/sentiment-api.tar.gz is missing: make image-archive" >&2; exit 2; }
	$(ENGINE_ENV) bash -c 'gunzip --stdout build/sentiment-api.tar.gz | "$$CONTAINER_ENGINE" $${CONTAINER_RUNTIME_FLAGS:-} load'

# With SHADOW_IMAGE_REF (the challenger's image, by digest) the shadow stage: the API keeps IMAGE_REF
# and scores every request with the challenger's model too (deploy/k8s/components/shadow).
manifests: ## Render the eks overlay with the API image IMAGE_REF (repository@sha256:...) pinned [and SHADOW_IMAGE_REF]: build/manifests.yaml
	@[ -n "$(IMAGE_REF)" ] || { echo "set IMAGE_REF=<repository>@sha256:<digest>" >&2; exit 2; }
	mkdir -p build
	SHADOW_IMAGE="$(SHADOW_IMAGE_REF)" deploy/render-overlay.sh "$(IMAGE_REF)" > build/manifests.yaml.part
	mv build/manifests.yaml.part build/manifests.yaml

image-spark: setup ## Build the Spark batch image sentiment-spark:<version> (Java + pyspark + our wheel) with ENGINE
	deploy/build-context.sh spark
	$(ENGINE_ENV) deploy/build-image.sh spark

image-scaler: setup ## Build the predictive scaler's image sentiment-scaler:<version> with ENGINE
	deploy/build-context.sh scaler
	$(ENGINE_ENV) deploy/build-image.sh scaler

bench-container: image ## Image size, start to ready, latency in the container against the host (wrk)
	$(PY) bench/bench_container.py

simulate: setup ## Replay a traffic trace through reactive, predictive and static autoscaling
	$(SENTIMENT) autoscale simulate --trace $(TRACE)

stack: setup ## Local stack: the API (gunicorn), Prometheus with the rules, the MLflow UI; Ctrl-C stops all
	$(SENTIMENT) stack --host $(HOST) --api-port $(PORT)

bench-metrics: setup ## /metrics scrape time after 1M requests (4 workers), metric files under worker recycling
	$(PY) bench/bench_metrics.py

loop: setup ## The production loop on real reviews: serve, replay, alert, feedback, retrain, promote, reload (reports/loop)
	$(SENTIMENT) loop --archive $(SENTIMENT_DATA_ARCHIVE)
bench-spark: setup ## Spark local[2] against local scoring and training statistics (100k reviews)
	$(PY) bench/bench_spark.py

clean: ## Remove caches (keeps data, models and the MLflow store)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
