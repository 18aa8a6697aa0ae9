# Praxiom API. `make test` runs every test against a throwaway PostgreSQL
# (cmd/withpg); `make dev` runs the server against a persistent local one.
export GOTOOLCHAIN := go1.27.3

GO ?= go

.PHONY: all test check dev build bench clean clean-data

all: check test

test:
	$(GO) run ./cmd/withpg -- $(GO) test -race -count=1 ./...

check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

dev:
	$(GO) build -o bin/praxiom ./cmd/praxiom
	exec ./bin/praxiom dev

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/praxiom ./cmd/praxiom

bench:
	$(GO) run ./cmd/withpg -- $(GO) test -run='^$$' -bench=. -benchmem ./...

clean:
	rm -rf bin/

clean-data:
	rm -rf .data/
