# Driftless — the two set-up commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
CARGO ?= cargo
export KUBECONFIG_DEV := $(CURDIR)/.dev/kubeconfig
# NODE=1 (cluster-up, run, controlplane, deps): a cluster with a real node (e2e/README.md, "Node").
NODE ?= 0
export NODE

.PHONY: build run test unit e2e lint fmt crds docs kubectl-plugin bench bench-flux cluster-up cluster-down controlplane deps tools
.PHONY: image image-push pause-image hello-images
.PHONY: node-binaries node-test-deps

## build: compile the workspace (debug) and the driftless binary.
build:
	$(CARGO) build --workspace --all-targets

## run: local control plane + git daemon serving the hello-world sample + the controllers (foreground).
run:
	scripts/run-local.sh

## fmt: format all Rust code.
fmt:
	$(CARGO) fmt --all

## lint: formatting check, clippy with warnings as errors, and crds/ up to date.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## crds: regenerate crds/ from the Rust types (never edit crds/ by hand).
crds:
	$(CARGO) run --quiet -p driftless -- crds --dir crds

## docs: regenerate docs/cli.md from the CLI's clap definitions (a test fails when it is stale).
docs:
	$(CARGO) run --quiet -p driftless -- docs --out docs/cli.md

## kubectl-plugin: build driftless and link it as target/debug/kubectl-driftless; with that
## directory on PATH, `kubectl driftless get kustomizations` runs it as a kubectl plugin.
kubectl-plugin:
	$(CARGO) build -p driftless --bin driftless
	ln -sf driftless target/debug/kubectl-driftless

## deps: Debian packages the tests need (git, lighttpd, docker-registry, ...).
deps:
	e2e/scripts/install-deps.sh

## controlplane: build kube-apiserver and etcd from the Go module proxy into e2e/bin (cached).
controlplane:
	e2e/scripts/build-controlplane.sh

## tools: build sops and age-keygen (test fixtures: SOPS-encrypted files) from the Go module proxy
## into e2e/bin (cached).
tools:
	e2e/scripts/build-tools.sh

## node-binaries: kubelet, kube-proxy, kube-scheduler, kube-controller-manager, kubectl into e2e/bin (cached).
node-binaries:
	NODE_ONLY=1 e2e/scripts/build-controlplane.sh

## cluster-up / cluster-down: a local kube-apiserver + etcd on loopback; kubeconfig in .dev/kubeconfig.
## cluster-up NODE=1: a separate cluster with a real node (containerd, kubelet, kube-proxy, pods on a
## local bridge); kubeconfig in .dev/node-kubeconfig. cluster-down stops both and cleans up.
cluster-up: controlplane
	e2e/scripts/cluster-up.sh

cluster-down:
	NODE=0 e2e/scripts/cluster-down.sh
	NODE=1 e2e/scripts/cluster-down.sh
	@if [ -f .dev/git-daemon.pid ]; then kill "$$(cat .dev/git-daemon.pid)" 2>/dev/null || true; rm -f .dev/git-daemon.pid; fi

## unit: tests that need no server (pure logic, golden kustomize corpus, generated CRDs).
unit:
	$(CARGO) test --workspace --exclude driftless-e2e

## e2e: end-to-end tests against the real control plane, git server and registry.
e2e: deps controlplane tools
	$(CARGO) test -p driftless-e2e

## test: everything CI runs: lint, then unit, golden, integration and end-to-end tests in one
## cargo invocation (one feature resolution, one build).
test: lint deps controlplane tools node-test-deps
	$(CARGO) test --workspace

## node-test-deps: what the node tests (e2e/tests/node_*.rs) need: Debian's containerd, runc, CNI
## plugins, iptables, conntrack; kubelet, kube-proxy, kube-scheduler, kube-controller-manager and
## kubectl; the Driftless and hello-world images (all cached; the tests push them to the node's
## registry). DRIFTLESS_E2E_NODE=0 skips this and the node tests.
node-test-deps:
ifneq ($(DRIFTLESS_E2E_NODE),0)
	NODE=1 e2e/scripts/install-deps.sh
	NODE_ONLY=1 e2e/scripts/build-controlplane.sh
	image/build-driftless.sh >/dev/null
	image/build-hello.sh >/dev/null
endif

## bench: hot-path benchmarks, each printed beside its peer (kubectl, git) measured in the same run.
bench:
	$(CARGO) bench -p driftless-kustomize --bench large_tree
	$(CARGO) bench -p driftless-source --bench fetch
	$(CARGO) bench -p driftless-image-controller --bench policy

## bench-flux: Driftless beside Flux's source-controller and kustomize-controller (built from the
## Go module proxy into bench/flux/bin, cached; never by make test) on fresh loopback planes:
## S1 (1 GitRepository, N Kustomizations) and S2 (N namespaces each with a GitRepository and a
## Kustomization), OBJECTS ConfigMaps each. Prints one side-by-side table, writes OUT (JSON).
##   make bench-flux N=100            FLUX=0: Driftless only   STORAGE=tmpfs: storage on /dev/shm
##   SHARDS=1,2: Driftless as one process and as two --watch-label-selector shards
##   SCENARIOS=S1,S2 ROUNDS=1 OBJECTS=10 COMMIT=1 KS_INTERVAL=60s REPO_INTERVAL=30s STEADY=75
##   TIMEOUT=1800 (seconds per phase; a phase over it is reported with its Ready count)
N ?= 100
FLUX ?= 1
STORAGE ?= disk
OUT ?= bench-flux.json
bench-flux: controlplane
	$(CARGO) build --release -p driftless --bin driftless
	@if [ "$(FLUX)" != 0 ]; then bench/flux/build.sh; fi
	$(CARGO) build --quiet -p driftless-e2e --example bench_flux
	@if [ "$(STORAGE)" = tmpfs ]; then export TMPDIR=/dev/shm; fi; \
	N=$(N) FLUX=$(FLUX) OUT=$(OUT) DRIFTLESS_BIN=$(CURDIR)/target/release/driftless \
	  $(CURDIR)/target/debug/examples/bench_flux

## image: the Driftless container image, a reproducible OCI archive built without a daemon
## (.dev/image/driftless.oci.tar; prints its digest). See image/build-driftless.sh.
image:
	image/build-driftless.sh

## image-push: build and push it: IMAGE=host:port/driftless:tag make image-push
## (plain HTTP for a registry on loopback, TLS otherwise).
image-push: image
	@if [ -z "$(IMAGE)" ]; then echo "make image-push: set IMAGE=host:port/driftless:tag" >&2; exit 1; fi
	image/push.sh .dev/image/driftless.oci.tar "$(IMAGE)"

## hello-images: the hello-world app images, tags 1 and 2 (.dev/image/hello-world-*.oci.tar);
## REGISTRY=host:port also pushes them as REGISTRY/hello-world:1 and :2.
hello-images:
	image/build-hello.sh $(REGISTRY)

## pause-image: the pod sandbox image the local node's containerd needs (.dev/image/pause.oci.tar).
pause-image:
	image/build-pause.sh
