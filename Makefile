# zen-watcher: `make test` is the one command CI runs (.ci/run calls it).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

# Build output lives outside the clone: CI runs in a fresh clone, so a target dir inside it
# would always be cold. Cargo's own fingerprints decide what to rebuild.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/zen-watcher/cargo-target
export CARGO_TERM_COLOR ?= never
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(TOOLS_BIN):$(PATH)
CHART := charts/zen-watcher

.PHONY: build test lint fmt fmt-check clippy clippy-fuzz core-deps actionlint hadolint unit crds crds-check readme \
        tools cluster-up cluster-down e2e e2e-node node-up node-down node-image fuzz demo demo-down bench chaos

build: ## Build the workspace (debug)
	cargo build --workspace --locked

test: lint unit crds-check e2e e2e-node ## Everything CI checks

lint: fmt-check clippy clippy-fuzz core-deps actionlint hadolint ## Formatting, clippy on every target (fuzz too), the core's dependencies, workflow and Dockerfile lint

fmt: ## Format the code
	cargo fmt --all
	cd fuzz && cargo fmt

fmt-check:
	cargo fmt --all -- --check
	cd fuzz && cargo fmt -- --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo clippy -p zen-watcher-e2e --features node --all-targets --locked -- -D warnings

# The fuzz crate is its own workspace (cargo-fuzz's layout): type-checked here, run by `make fuzz`.
clippy-fuzz:
	cd fuzz && CARGO_TARGET_DIR=$(HOME)/.cache/zen-watcher/fuzz-target cargo clippy --all-targets --locked -- -D warnings

core-deps: ## The pure core (core/) depends on no I/O crate
	scripts/check-core-deps.sh

hadolint:
	scripts/install-hadolint.sh
	$(TOOLS_BIN)/hadolint Dockerfile

actionlint:
	scripts/install-actionlint.sh
	$(TOOLS_BIN)/actionlint -color=false .github/workflows/*.yml

unit: ## Unit and binary tests (no cluster), the benchmark report's verdicts, the image writer against the Dockerfile
	cargo test --workspace --locked --exclude zen-watcher-e2e
	python3 -m unittest discover -s bench -p 'test_*.py'
	python3 -m unittest discover -s scripts/lib -p 'test_*.py'

crds: ## Regenerate the chart's CRD files from core/src/crd
	rm -f $(CHART)/files/crds/*.yaml
	cargo run -q --locked -p crd-gen -- --out-dir $(CHART)/files/crds

crds-check: ## Fail when the chart's CRD files differ from crd-gen's output
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cargo run -q --locked -p crd-gen -- --out-dir "$$tmp" && \
	if ! diff -ru "$$tmp" $(CHART)/files/crds; then \
	  echo "charts/zen-watcher/files/crds is out of date: run 'make crds'" >&2; exit 1; fi

readme: ## Regenerate the README's configuration table from --help
	ZEN_UPDATE_README=1 cargo test -q --locked --lib readme_configuration_table_matches_help

tools: ## Install kubectl and helm (pinned) into .tools/bin
	scripts/install-tools.sh

cluster-up: ## Start the local kube-apiserver + etcd; writes e2e/.run/kubeconfig
	scripts/cluster-up.sh

cluster-down: ## Stop the local control plane (by PID)
	scripts/cluster-down.sh

e2e: ## End-to-end tests against a real apiserver (starts one when none runs)
	scripts/e2e.sh

e2e-node: ## The chart as real pods of the project's image on a real kubelet (needs root; brings a node up and down)
	scripts/e2e-node.sh

node-up: ## A real node beside the local control plane: kubelet, containerd, kube-proxy (needs root); writes e2e/.node/kubeconfig
	scripts/node-up.sh

node-down: ## Stop the real node and restore the host (processes, mounts, cgroups, iptables, sysctls)
	scripts/node-down.sh

node-image: ## The container image from the Dockerfile's recipe, without a daemon, imported into the running node
	NODE_IMPORT=1 scripts/node-image.sh

fuzz: ## Run every fuzz target for FUZZ_SECONDS (default 20) each
	scripts/fuzz.sh $(or $(FUZZ_SECONDS),20)

demo: ## A local demo: control plane, chart, 3 watcher replicas, sample events (stop: make demo-down)
	scripts/demo.sh

demo-down: ## Stop the demo's watchers (by PID) and its control plane
	scripts/demo-down.sh

# Not part of `make test` (which compiles the benchmarks through clippy --all-targets).
bench: ## Benchmarks in release mode -> BENCHMARKS.md and docs/bench/*.png (BENCH_QUICK=1: short)
	scripts/bench.sh

# Not part of `make test`: minutes of faults under load.
chaos: ## Delivery guarantees under faults (leader SIGKILL/SIGTERM, apiserver frozen and restarted) -> RELIABILITY.md
	scripts/chaos.sh
