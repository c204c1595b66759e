# zoomsymbl — one entry point for developers and CI. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
UV ?= $(shell command -v uv 2>/dev/null || echo .cache/tools/bin/uv)
PYTEST_ARGS ?=
INFRA := $(UV) run --frozen python scripts/infra.py

.PHONY: help uv install system-deps infra-build infra-up infra-down infra-status helm test test-unit test-reliability \
        lint typecheck check demo demo-down bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

.cache/tools/bin/uv:
	python3 -m venv .cache/tools
	.cache/tools/bin/pip install --quiet --disable-pip-version-check uv

uv: $(if $(filter .cache/tools/bin/uv,$(UV)),.cache/tools/bin/uv) ## install uv from PyPI when it is missing

install: uv ## create .venv with every workspace member and the dev tools (from uv.lock)
	$(UV) sync --frozen --all-packages

system-deps: ## ffmpeg, ffprobe, espeak-ng and curl from Debian's packages when missing (scripts/system_deps.sh)
	bash scripts/system_deps.sh

infra-build: install ## build/download Kafka, FerretDB and versitygw into .cache/ (no start)
	$(INFRA) build

infra-up: install system-deps ## start Kafka, FerretDB, versitygw and the SMTP sink on loopback (idempotent)
	$(INFRA) up

infra-down: ## stop exactly the servers infra-up started (recorded PIDs)
	@if [ -x "$(UV)" ] || command -v uv >/dev/null; then $(INFRA) down; else echo "nothing to stop"; fi

infra-status: install ## one line per component: up/down, pid, address, log file
	$(INFRA) status

helm: ## build helm from the Go module proxy into .cache/bin (used by the chart tests)
	bash scripts/install_helm.sh

test: infra-up helm ## the whole suite against the real local servers (what CI runs)
	$(UV) run --frozen pytest $(PYTEST_ARGS)

test-unit: install ## only the tests that need no server
	$(UV) run --frozen pytest -m "not integration and not e2e" $(PYTEST_ARGS)

test-reliability: infra-up ## the full reliability and security suite (long)
	ZS_RELIABILITY_FULL=1 $(UV) run --frozen pytest tests/reliability $(PYTEST_ARGS)

lint: install ## ruff
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: install ## mypy --strict on every package, the tests and the benchmarks
	$(UV) run --frozen mypy libs/common/src libs/sandbox/src services/ingest/src services/mixer/src \
	  services/submitter/src services/notifier/src \
	  libs/whisper/src services/transcriber/src services/web/src scripts tests
	MYPYPATH=bench $(UV) run --frozen mypy bench/*.py  # the benchmarks import bench/common.py as "common"

check: lint typecheck test ## everything CI checks

release-check: install ## every place carries the product's one version; the changelog has it (docs/releasing.md)
	$(UV) run --frozen python scripts/release.py check

release: install ## VERSION=x.y.z: move every version line to it and date the changelog's Unreleased notes (docs/releasing.md)
	@test -n "$(VERSION)" || { echo "make release VERSION=x.y.z" >&2; exit 2; }
	$(UV) run --frozen python scripts/release.py bump $(VERSION)
	$(UV) lock --check
	$(MAKE) install

# `make demo JAEGER=1`: the services export their spans to Jaeger (built when missing, ~10 min cold; started by
# scripts/jaeger.sh unless one runs) and the demo prints each meeting's trace URL (docs/operations.md).
JAEGER ?=
demo: infra-up $(if $(filter 1,$(JAEGER)),jaeger-build) ## the whole pipeline against the sandboxes, print the e-mail (JAEGER=1: traces in Jaeger)
	$(UV) run --frozen python scripts/demo.py up $(if $(filter 1,$(JAEGER)),--jaeger)

demo-down: ## stop the demo's services and sandboxes, the Jaeger the demo started (and the local servers)
	$(UV) run --frozen python scripts/demo.py down
	$(INFRA) down

bench: infra-up ## every benchmark, with its baseline in the same run → bench/results/
	bash scripts/system_deps.sh bench
	$(UV) run --frozen python bench/run_all.py

clean: infra-down ## stop servers and delete every cached build and data dir
	rm -rf .cache .venv

# ---- the chart on a real Kubernetes control plane (docs/cluster-test.md)
.PHONY: cluster-build cluster-test
HELM3_VERSION ?= v3.21.4
HELM3_DIR := .cache/helm-$(HELM3_VERSION)/bin

cluster-build: ## build Kubernetes v1.36.3 (one binary), kubectl and kwok into .cache/cluster (~15 min cold, cached)
	bash scripts/cluster.sh build

cluster-test: install helm cluster-build ## the chart on a local control plane + kwok: install/test/upgrade/rollback/uninstall, Helm 4 and 3
	HELM_VERSION=$(HELM3_VERSION) HELM_BIN_DIR=$(CURDIR)/$(HELM3_DIR) bash scripts/install_helm.sh
	trap 'bash scripts/cluster.sh down' EXIT; \
	  $(UV) run --frozen pytest tests/deploy/test_cluster.py $(PYTEST_ARGS) && \
	  ZS_HELM=$(CURDIR)/$(HELM3_DIR)/helm $(UV) run --frozen pytest tests/deploy/test_chart.py tests/deploy/test_cluster.py \
	    $(PYTEST_ARGS)
	@cat .cache/cluster/timings-helm-*.txt

# ---- Jaeger, a trace backend that Grafana reads (deploy/grafana/jaeger-datasource.yaml)
.PHONY: jaeger-build
jaeger-build: ## build Jaeger v1.75.0 from the Go module proxy into .cache/jaeger (scripts/jaeger.sh up/down runs it)
	bash scripts/jaeger.sh build

# ---- the service images, built with podman from a debootstrap base; no Docker, no registry (docs/images.md)
.PHONY: images images-test
images: install ## the six service images with podman (podman/buildah/runc/debootstrap from Debian when missing)
	UV_BIN=$(UV) bash scripts/images.sh build

images-test: install infra-up images ## the images run read-only as 10001 without capabilities; the demo meeting through them
	ZS_IMAGES_TEST=1 $(UV) run --frozen pytest tests/deploy/test_images.py $(PYTEST_ARGS)
	@cat .cache/images/sizes.txt
