#!/usr/bin/env bash
# Verifies the vendored Redoc bundle behind GET /docs (`make docs-bundle-check`,
# part of `make lint`).
#
#   bash scripts/check-docs-bundle.sh                 # verify
#   bash scripts/check-docs-bundle.sh update [VER]    # vendor VER (default: the pinned one)
#
# internal/apidocs/redoc/ holds files copied unchanged from the npm package
# `redoc`: the standalone bundle, its third-party license notices and Redoc's
# own LICENSE. VERSION pins the package version and SHA256SUMS the files'
# hashes (the Go tests check those hashes offline, so an edited file fails
# `make test` too). Verifying fetches the pinned version with `npm pack` from
# the registry npm is configured with, and fails unless every vendored file
# equals the package's byte for byte and matches SHA256SUMS. Updating
# replaces the files and rewrites VERSION and SHA256SUMS; then run
# `make test` (the headless-browser test renders the new bundle) and review
# the CSP in internal/apidocs if the bundle needs more than before.
#
# When npm is missing and this runs as root (CI on a clean machine), Node.js
# and npm are installed from the distribution's packages first.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=internal/apidocs/redoc
# vendored file name → path inside the package tarball
declare -A source=(
  [redoc.standalone.js]=package/bundles/redoc.standalone.js
  [redoc.standalone.js.LICENSE.txt]=package/bundles/redoc.standalone.js.LICENSE.txt
  [LICENSE]=package/LICENSE
)
files=(redoc.standalone.js redoc.standalone.js.LICENSE.txt LICENSE)

mode=verify
version=
if [ -f "$dir/VERSION" ]; then version=$(tr -d '[:space:]' <"$dir/VERSION"); fi
case "${1:-}" in
  "") ;;
  update) mode=update; version=${2:-$version} ;;
  *) echo "usage: $0 [update [VERSION]]" >&2; exit 2 ;;
esac
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "check-docs-bundle: no valid version (got '$version'; $dir/VERSION pins one, e.g. 2.5.4)" >&2
  exit 1
fi

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "check-docs-bundle: installing nodejs and npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "check-docs-bundle: npm (Node.js) is not installed" >&2
    exit 1
  fi
fi
export NO_UPDATE_NOTIFIER=1 npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# --prefer-online revalidates the package metadata with the registry rather
# than trusting a cached copy; npm checks the tarball against its integrity.
tarball=$(cd "$work" && npm pack --silent --prefer-online --ignore-scripts "redoc@$version" | tail -n 1)
tar -xzf "$work/$tarball" -C "$work"

if [ "$mode" = update ]; then
  mkdir -p "$dir"
  for f in "${files[@]}"; do
    cp "$work/${source[$f]}" "$dir/$f"
  done
  echo "$version" >"$dir/VERSION"
  (cd "$dir" && sha256sum "${files[@]}" >SHA256SUMS)
  echo "check-docs-bundle: vendored redoc@$version into $dir:"
  cat "$dir/SHA256SUMS"
  exit 0
fi

status=0
for f in "${files[@]}"; do
  if ! cmp -s "$work/${source[$f]}" "$dir/$f"; then
    echo "check-docs-bundle: $dir/$f differs from ${source[$f]#package/} of redoc@$version" >&2
    status=1
  fi
done
if ! (cd "$dir" && sha256sum --check --quiet --strict SHA256SUMS); then
  echo "check-docs-bundle: $dir/SHA256SUMS does not match the vendored files" >&2
  status=1
fi
listed=$(awk '{print $2}' "$dir/SHA256SUMS" | sort | tr '\n' ' ')
wanted=$(printf '%s\n' "${files[@]}" | sort | tr '\n' ' ')
if [ "$listed" != "$wanted" ]; then
  echo "check-docs-bundle: $dir/SHA256SUMS lists '$listed', want '$wanted'" >&2
  status=1
fi
if [ "$status" = 0 ]; then
  echo "check-docs-bundle: $dir matches redoc@$version ($(wc -c <"$dir/redoc.standalone.js") bytes, sha256 $(sha256sum "$dir/redoc.standalone.js" | cut -d' ' -f1))"
fi
exit "$status"
