# Praxiom API. `make test` runs every test against a throwaway PostgreSQL
# (cmd/withpg); `make dev` runs the server against a persistent local one.
# Targets that need programs from the host install them first through
# scripts/provision.sh (as root; otherwise it says what to install).
export GOTOOLCHAIN := go1.27.3

GO ?= go
PROVISION := bash scripts/provision.sh

.PHONY: all test check lint docs-bundle-check vulncheck fuzz dev dev-smoke docker-check build bench provision clean clean-data mailpit

all: check test

test:
	$(PROVISION) postgres redis chromium
	$(GO) run ./cmd/withpg -- $(GO) test -race -count=1 ./...

# gofmt over the tree; go vet over the product module; the bench module
# (bench/go.mod) built, vetted and its unit tests run.
check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) build -o /dev/null . && $(GO) vet ./... && $(GO) test -count=1 ./...

# Static checks: staticcheck over the module (version pinned in tools/go.mod)
# and Redocly CLI over api/openapi.yaml (version pinned in the script, rules
# in redocly.yaml), and the vendored Redoc bundle of GET /docs.
lint:
	$(PROVISION) node
	GO='$(GO)' bash scripts/staticcheck.sh
	bash scripts/lint-openapi.sh
	bash scripts/check-docs-bundle.sh

# The vendored Redoc bundle (internal/apidocs/redoc/) equals the npm package
# redoc at the version it pins, byte for byte.
docs-bundle-check:
	$(PROVISION) node
	bash scripts/check-docs-bundle.sh

# govulncheck (pinned in tools/go.mod) against an offline database built from
# golang.org/x/vulndb (pinned in the script) and cached in .data/.
vulncheck:
	GO='$(GO)' bash scripts/vulncheck.sh

# Each fuzz target for FUZZTIME; `go test -fuzz` takes one target per run.
# Their seed corpora (testdata/fuzz/) also run as plain tests in `make test`.
# FuzzRequestBodies sends bodies through the real router to a real
# PostgreSQL, so the loop runs under a throwaway cluster (cmd/withpg).
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./internal/auth:FuzzParseBearer \
	./internal/auth:FuzzVerify \
	./internal/auth:FuzzScanObject \
	./internal/webhook:FuzzWebhookVerify \
	./internal/webhook:FuzzDecode \
	./internal/jsontext:FuzzCheck \
	./internal/httpapi:FuzzDecodeBytes \
	./internal/httpapi:FuzzAppendString \
	./internal/httpapi:FuzzRequestLine \
	./internal/httpapi:FuzzRequestBodies

fuzz:
	$(PROVISION) postgres
	$(GO) run ./cmd/withpg -- bash -c 'set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "$(GO) test -run=^\$$ -fuzz=^$$name\$$ -fuzztime=$(FUZZTIME) $$pkg"; \
		$(GO) test -run="^\$$" -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done'

# The development stand-in (cmd/praxiom-dev). As root, PostgreSQL runs as the
# postgres user on a data directory the script gives it. Mailpit (pinned in
# tools/go.mod, built once into .data/bin by scripts/mailpit.sh) catches the
# emails the dev server sends.
dev:
	$(PROVISION) --pgdata "$${PRAXIOM_DATA_DIR:-.data}/postgres" postgres
	$(GO) build -o bin/praxiom-dev ./cmd/praxiom-dev
	MAILPIT_BIN="$$(GO='$(GO)' bash scripts/mailpit.sh)" && export MAILPIT_BIN && exec ./bin/praxiom-dev

# What can be checked of the Dockerfile without a Docker engine.
docker-check:
	GO='$(GO)' bash scripts/check-dockerfile.sh

# Builds the pinned Mailpit into .data/bin (once) and prints its path.
mailpit:
	@GO='$(GO)' bash scripts/mailpit.sh

# Runs `make dev` as a new user would and checks the printed curl works.
dev-smoke:
	bash scripts/dev-smoke.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/praxiom ./cmd/praxiom

# The benchmark is a module of its own (bench/go.mod); see docs/performance.md.
bench:
	$(PROVISION) postgres wrk
	cd bench && GO='$(GO)' $(GO) run . $(BENCH_FLAGS)

# Everything `make test`, `make lint` and `make dev` need from the host.
provision:
	$(PROVISION) postgres redis chromium node

clean:
	rm -rf bin/

clean-data:
	rm -rf .data/
