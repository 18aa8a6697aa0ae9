#!/usr/bin/env bash
# Runs govulncheck over the main module against an offline copy of the Go
# vulnerability database (`make vulncheck`).
#
# govulncheck (golang.org/x/vuln) is pinned in tools/go.mod. Its database is
# not downloaded from the vulnerability service: the Go module proxy serves
# golang.org/x/vulndb, whose data/osv holds every Go advisory as OSV JSON, and
# its cmd/indexdb turns that folder into the database layout that
# `govulncheck -db file://…` reads. The database is built once per vulndb
# version into .data/vulndb-<version>/ (gitignored) and reused afterwards.
#
# To take newer advisories, set VULNDB_VERSION below to a newer pseudo-version
# (`go list -m golang.org/x/vulndb@latest`, run outside this module, prints
# the newest).
#
# Fails when the code calls a vulnerable symbol (govulncheck's exit code 3);
# advisories that only touch modules or packages the code does not reach are
# printed by `-show verbose` but do not fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
GO="${GO:-go}"

# The one pin of the advisory data.
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

root="$PWD"
db="$root/.data/vulndb-$VULNDB_VERSION"

if [ ! -f "$db/index/db.json" ]; then
  echo "vulncheck: building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION"
  mkdir -p "$root/.data"
  tmp="$(mktemp -d "$root/.data/vulndb-build.XXXXXX")"
  empty="$(mktemp -d)"
  trap 'rm -rf "$tmp" "$empty"' EXIT
  # Download from an empty folder outside the repository, so that no go.mod
  # or go.sum is consulted or touched.
  json="$(cd "$empty" && "$GO" mod download -json "golang.org/x/vulndb@$VULNDB_VERSION")" || true
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [ -z "$dir" ] || [ ! -d "$dir/data/osv" ]; then
    echo "vulncheck: could not download golang.org/x/vulndb@$VULNDB_VERSION:" >&2
    printf '%s\n' "$json" >&2
    exit 1
  fi
  # Build indexdb with the module's own go.mod and go.sum (read-only in the
  # module cache; the build only reads them).
  (cd "$dir" && "$GO" build -o "$tmp/indexdb" ./cmd/indexdb)
  "$tmp/indexdb" -vulns "$dir/data/osv" -out "$tmp/db"
  # Renamed into place whole (same file system), so an interrupted build is
  # never taken for a cached database.
  rm -rf "$db"
  mv "$tmp/db" "$db"
  rm -rf "$tmp" "$empty"
  trap - EXIT
fi

exec "$GO" tool -modfile=tools/go.mod govulncheck -db "file://$db" -show verbose ./...
