#!/usr/bin/env bash
# Runs staticcheck over the main module (`make lint`).
#
# Version: honnef.co/go/tools, pinned in tools/go.mod (a separate module, so
# the tool's dependencies stay out of the main go.mod); `go tool` builds it
# once into the Go build cache.
#
# Checks: staticcheck's default set for the pinned version, on purpose: all
# of SA (bugs), S (simplifications), QF (quick fixes) and ST (style) except
# its non-default checks: SA9003 (empty branches) and the style checks for
# doc-comment and naming conventions (ST1000, ST1003, ST1016, ST1020, ST1021,
# ST1022, ST1023). No staticcheck.conf, since the defaults are the chosen
# set. Any finding fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
GO="${GO:-go}"

exec "$GO" tool -modfile=tools/go.mod staticcheck ./...
