# otelcol-istio — build, test and maintenance targets.
# `make test` is the test command of the README and of CI (.ci/run).

GO        ?= go
BIN       := bin
OCB_VER   := v0.165.0
GOBIN     := $(shell $(GO) env GOPATH)/bin
PKGS      := ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s

.PHONY: all build run test test-unit test-e2e generate check-generate bench fuzz lint demo clean tools

all: build

build:
	$(GO) build -trimpath -o $(BIN)/otelcol-istio ./cmd/otelcol-istio
	$(GO) build -trimpath -o $(BIN)/istiotel ./cmd/istiotel

# Run the collector on its embedded default configuration.
run: build
	$(BIN)/otelcol-istio

# Everything CI checks, in one command: formatting, vet, unit and e2e tests.
test: lint
	$(GO) test -count=1 -timeout 20m $(PKGS)

test-unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /tests)

test-e2e:
	$(GO) test -count=1 -timeout 20m ./tests/...

# Regenerate the distribution's sources from builder-config.yaml.
generate:
	$(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VER)
	$(GOBIN)/builder --config builder-config.yaml --skip-get-modules --skip-compilation
	gofmt -w cmd/otelcol-istio

# Fails when `make generate` would change a committed file.
check-generate: generate
	@git diff --exit-code -- cmd/otelcol-istio internal/mixerpb || \
		(echo "generated code is stale: run 'make generate' and commit the result" && exit 1)
	@test -z "$$(git status --porcelain -- cmd/otelcol-istio internal/mixerpb)" || \
		(git status --porcelain -- cmd/otelcol-istio internal/mixerpb; echo "generate produced untracked files" && exit 1)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $$($(GO) list ./... | grep -v /tests)

# A short run of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
		if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck $(PKGS); \
		else echo "staticcheck not installed: skipped (make tools)"; fi

tools:
	$(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VER)
	$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

demo: build
	@echo "starting otelcol-istio on its embedded default configuration (Ctrl-C stops it)"
	$(BIN)/otelcol-istio

clean:
	rm -rf $(BIN)
