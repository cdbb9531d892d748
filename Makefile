# verwerker — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: run build test bench lint openapi clean

## run: start verwerker on embedded defaults (throwaway PostgreSQL, demo data); Ctrl-C stops it
run: build
	@deploy/postgres.sh binaries >/dev/null
	exec bin/verwerker dev

## build: build bin/verwerker
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/verwerker ./cmd/verwerker

## test: install/start what the tests need (PostgreSQL, mailpit, Vault, Chromium, axe-core), then run every test against real services and each fuzz target for a few seconds (deploy/fuzz.sh)
test:
	@url=$$(deploy/postgres.sh server) && mail=$$(deploy/mailpit.sh env) && eval "$$mail" && \
	  vault=$$(deploy/vault.sh env) && eval "$$vault" && \
	  chromium=$$(deploy/chromium.sh env) && eval "$$chromium" && axe=$$(deploy/axe.sh env) && eval "$$axe" && \
	  echo "tests use PostgreSQL at $${url%%\?*}, SMTP at $$VERWERKER_TEST_SMTP_URL, Vault at $$VERWERKER_TEST_VAULT_ADDR and $$VERWERKER_TEST_CHROMIUM" && \
	  VERWERKER_TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 ./... && \
	  VERWERKER_TEST_DATABASE_URL="$$url" GO=$(GO) deploy/fuzz.sh

## bench: run the benchmarks and the side-by-side comparisons, then the load and the soak (SOAKTIME=10m for the long soak)
bench:
	@url=$$(deploy/postgres.sh server) && vault=$$(deploy/vault.sh env) && eval "$$vault" && \
	  VERWERKER_TEST_DATABASE_URL="$$url" deploy/bench.sh

## lint: gofmt, go vet and staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## openapi: rewrite the checked-in OpenAPI golden file after an intended API change
openapi:
	$(GO) test ./api -run TestOpenAPIGolden -update

clean:
	rm -rf bin
