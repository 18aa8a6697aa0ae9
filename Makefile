# Praxiom API. `make test` runs every test against a throwaway PostgreSQL
# (cmd/withpg); `make dev` runs the server against a persistent local one.
export GOTOOLCHAIN := go1.27.3

GO ?= go

.PHONY: all test check lint vulncheck fuzz dev dev-smoke docker-check build bench clean clean-data mailpit

all: check test

test:
	$(GO) run ./cmd/withpg -- $(GO) test -race -count=1 ./...

check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Static checks: staticcheck over the module (version pinned in tools/go.mod)
# and Redocly CLI over api/openapi.yaml (version pinned in the script, rules
# in redocly.yaml).
lint:
	GO='$(GO)' bash scripts/staticcheck.sh
	bash scripts/lint-openapi.sh

# govulncheck (pinned in tools/go.mod) against an offline database built from
# golang.org/x/vulndb (pinned in the script) and cached in .data/.
vulncheck:
	GO='$(GO)' bash scripts/vulncheck.sh

# Each fuzz target for FUZZTIME; `go test -fuzz` takes one target per run.
# Their seed corpora (testdata/fuzz/) also run as plain tests in `make test`.
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./internal/auth:FuzzParseBearer \
	./internal/auth:FuzzVerify \
	./internal/webhook:FuzzWebhookVerify \
	./internal/webhook:FuzzDecode \
	./internal/httpapi:FuzzDecodeBytes

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "$(GO) test -run='^$$' -fuzz='^$$name\$$' -fuzztime=$(FUZZTIME) $$pkg"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# Mailpit (pinned in tools/go.mod, built once into .data/bin by
# scripts/mailpit.sh) catches the emails the dev server sends.
dev:
	$(GO) build -o bin/praxiom ./cmd/praxiom
	MAILPIT_BIN="$$(GO='$(GO)' bash scripts/mailpit.sh)" && export MAILPIT_BIN && exec ./bin/praxiom dev

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

bench:
	GO='$(GO)' $(GO) run ./cmd/bench $(BENCH_FLAGS)

clean:
	rm -rf bin/

clean-data:
	rm -rf .data/
