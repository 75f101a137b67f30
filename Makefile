# otelcol-istio — build, test and maintenance targets.
# `make test` is the test command of the README and of CI (.ci/run).

GO        ?= go
BIN       := bin
OCB_VER   := v0.165.0
# protoc plugins: versions matching google.golang.org/protobuf and grpc in go.mod.
PROTOC_GEN_GO_VER      := v1.36.12
PROTOC_GEN_GO_GRPC_VER := v1.6.2
GOBIN     := $(shell $(GO) env GOPATH)/bin
PKGS      := ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
# Static builds, as in the image (deploy/docker/Dockerfile): the binaries need no libc where
# they run, and builds, tests and vet share one build cache (cgo on or off compiles every
# package anew).
export CGO_ENABLED ?= 0

.PHONY: all build run test test-unit test-e2e kubeapiserver celgo-vectors generate generate-proto check-generate bench fuzz lint demo clean tools

all: build

build:
	$(GO) build -trimpath -o $(BIN)/otelcol-istio ./cmd/otelcol-istio
	$(GO) build -trimpath -o $(BIN)/istiotel ./cmd/istiotel

# Run the collector on its embedded default configuration.
run: build
	$(BIN)/otelcol-istio

# Everything CI checks, in one command: formatting, vet, unit and e2e tests.
test: lint kubeapiserver
	KUBEAPISERVER_BIN=$(BIN)/kubeapiserver $(GO) test -count=1 -timeout 20m $(PKGS)

# A real kube-apiserver on an embedded etcd for tests/ (tests/apiserver_test.go),
# built from k8s.io/kubernetes in a module of its own; the first build takes
# several minutes. `go test ./tests/` builds it by itself when it is not given.
kubeapiserver:
	cd tests/kubeapiserver && $(GO) vet . && $(GO) build -trimpath -o ../../$(BIN)/kubeapiserver .

# internal/cexl's vectors from cel-go (tests/celgo, a module of its own so that
# cel-go stays out of the collector's dependencies).
celgo-vectors:
	cd tests/celgo && $(GO) vet . && $(GO) run . > ../../internal/cexl/testdata/celgo-vectors.jsonl

test-unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /tests)

test-e2e: kubeapiserver
	KUBEAPISERVER_BIN=$(BIN)/kubeapiserver $(GO) test -count=1 -timeout 20m ./tests/...

# Regenerate the distribution's sources from builder-config.yaml, and the
# Mixer API code from internal/mixerpb/*.proto.
generate: generate-proto
	$(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VER)
	$(GOBIN)/builder --config builder-config.yaml --skip-get-modules --skip-compilation
	gofmt -w cmd/otelcol-istio

# internal/mixerpb: the stand-ins in internal/mixerpb/wkt let protoc resolve the
# well-known types without libprotobuf-dev.
generate-proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VER)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VER)
	protoc -I internal -I internal/mixerpb/wkt \
		--plugin=protoc-gen-go=$(GOBIN)/protoc-gen-go --plugin=protoc-gen-go-grpc=$(GOBIN)/protoc-gen-go-grpc \
		--go_out=internal --go_opt=paths=source_relative \
		--go-grpc_out=internal --go-grpc_opt=paths=source_relative \
		internal/mixerpb/attributes.proto internal/mixerpb/mixer.proto

# Fails when `make generate` would change a committed file.
check-generate: generate
	@git diff --exit-code -- cmd/otelcol-istio internal/mixerpb || \
		(echo "generated code is stale: run 'make generate' and commit the result" && exit 1)
	@test -z "$$(git status --porcelain -- cmd/otelcol-istio internal/mixerpb)" || \
		(git status --porcelain -- cmd/otelcol-istio internal/mixerpb; echo "generate produced untracked files" && exit 1)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $$($(GO) list ./... | grep -v /tests)

# End-to-end benchmarks (docs/benchmarks.md, "end to end"): the built
# collector on loopback ports, driven by `istiotel loadgen`; CPU per report,
# reports/s, millicores, peak RSS, exported totals. Not part of `make test`.
# BENCH_FLAGS passes flags to bench/e2e (go run ./bench/e2e -h), e.g.
# BENCH_FLAGS='-runs 5 -profile /tmp/prof', or '-rate 200 -batch 10' for a
# node's rate and Report size.
BENCH_FLAGS ?=
PEER_DIR    ?= $(or $(TMPDIR),/tmp)/otelcol-istio-bench-peer

.PHONY: bench-e2e bench-peer

bench-e2e: build
	$(GO) run ./bench/e2e -collector $(BIN)/otelcol-istio -istiotel $(BIN)/istiotel $(BENCH_FLAGS)

# The stock contrib pipeline next to ours on the same bags: ocb builds it
# from bench/peer/builder-config.yaml in $(PEER_DIR), a module of its own
# outside the repository.
bench-peer: build
	$(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VER)
	mkdir -p $(PEER_DIR)
	cd $(PEER_DIR) && $(GOBIN)/builder --config $(CURDIR)/bench/peer/builder-config.yaml
	$(GO) run ./bench/e2e -collector $(BIN)/otelcol-istio -istiotel $(BIN)/istiotel \
		-peer $(PEER_DIR)/otelcol-peer/otelcol-peer -peer-config bench/peer/config.yaml \
		-variants default,prom,otlp-prom,peer $(BENCH_FLAGS)

# Refresh the profile that `go build` optimises the collector with
# (profile-guided optimisation; Go reads cmd/otelcol-istio/default.pgo on its
# own): CPU profiles of the default config, the Prometheus rules alone and
# Envoy ALS under bench-e2e's load, with the DaemonSet's environment, merged.
PGO_ENV := GOMAXPROCS=1,GOGC=200,GOMEMLIMIT=400MiB,GODEBUG=schedtrace=2147483647
PGO_DIR ?= $(or $(TMPDIR),/tmp)/otelcol-istio-pgo

.PHONY: pgo

pgo: build
	rm -rf $(PGO_DIR)
	$(GO) run ./bench/e2e -collector $(BIN)/otelcol-istio -istiotel $(BIN)/istiotel \
		-runs 0 -profile $(PGO_DIR) -variants default,prom,als -env $(PGO_ENV)
	$(GO) tool pprof -proto $(PGO_DIR)/default.cpu.pprof $(PGO_DIR)/prom.cpu.pprof \
		$(PGO_DIR)/als.cpu.pprof > cmd/otelcol-istio/default.pgo.tmp
	mv cmd/otelcol-istio/default.pgo.tmp cmd/otelcol-istio/default.pgo

# A short run of every fuzz target (FUZZTIME each).
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
		if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck $(PKGS); \
		else echo "staticcheck not installed: skipped (make tools)"; fi

tools:
	$(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VER)
	$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The collector on its embedded default, fed by istiotel loadgen; prints a
# few istio_* series and accesslog lines, then stops.
demo: build
	scripts/demo.sh

clean:
	rm -rf $(BIN)
