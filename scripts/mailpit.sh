#!/usr/bin/env bash
# Prints the path of the Mailpit binary whose version tools/go.mod pins,
# building it into .data/bin/ (MAILPIT_CACHE_DIR) first when it is not there:
# the first build takes a few minutes, later runs find it at once, and a new
# pinned version builds a new binary. `make dev` runs Mailpit from it.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"

version="$($GO list -modfile=tools/go.mod -m -f '{{.Version}}' github.com/axllent/mailpit)"
dir="${MAILPIT_CACHE_DIR:-.data/bin}"
bin="$dir/mailpit-$version"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  echo "mailpit.sh: building Mailpit $version into $bin (the first time takes a few minutes)" >&2
  CGO_ENABLED=0 $GO build -modfile=tools/go.mod -trimpath -o "$bin.tmp" github.com/axllent/mailpit
  mv "$bin.tmp" "$bin"
fi
echo "$(cd "$dir" && pwd)/$(basename "$bin")"
