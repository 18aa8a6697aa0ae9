#!/usr/bin/env bash
# No Docker engine runs on these machines, so this checks what can be checked
# without one: the build stage's command produces a static binary that links
# no host provisioning or development code, that binary runs as an
# unprivileged user with no files but itself, and the Dockerfile keeps its
# promises (multi-stage, distroless static base, non-root user, the project's
# Go version).
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"

fail() { echo "check-dockerfile: $*" >&2; exit 1; }

grep -q '^FROM golang:1\.27\.3-' Dockerfile || fail "build stage is not on Go 1.27.3"
grep -q '^FROM gcr.io/distroless/static' Dockerfile || fail "runtime stage is not distroless/static"
grep -q '^USER nonroot' Dockerfile || fail "runtime stage does not switch to a non-root user"
grep -q 'CGO_ENABLED=0' Dockerfile || fail "build is not CGO_ENABLED=0"
[ "$(grep -c '^FROM ' Dockerfile)" -ge 2 ] || fail "not a multi-stage build"
! grep -qE '^(ADD|RUN .*(curl|wget) )' Dockerfile || fail "downloads outside the package managers"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
CGO_ENABLED=0 "$GO" build -trimpath -ldflags='-s -w' -o "$out/praxiom" ./cmd/praxiom
if ldd "$out/praxiom" >/dev/null 2>&1; then
  fail "the binary is dynamically linked"
fi
# The production binary provisions no host and carries no development
# stand-in: those live in scripts/ and cmd/praxiom-dev.
for pkg in internal/localpg internal/devtoken; do
  if "$GO" list -deps ./cmd/praxiom | grep -qx "github.com/praxiom/praxiom-api/$pkg"; then
    fail "cmd/praxiom links $pkg"
  fi
done
# Counted, not just found: the embedded Redoc bundle (internal/apidocs/redoc)
# holds "apt-get" in its syntax highlighter's list of shell commands, so the
# binary may hold a word exactly as often as the embedded files do.
for word in apt-get useradd runuser; do
  in_bin="$({ grep -ao "$word" "$out/praxiom" || true; } | wc -l)"
  in_assets="$(cat internal/apidocs/redoc/* internal/apidocs/*.js internal/apidocs/*.html | { grep -ao "$word" || true; } | wc -l)"
  if [ "$in_bin" -gt "$in_assets" ]; then
    fail "the binary contains \"$word\" ($in_bin times; $in_assets in the embedded API reference)"
  fi
done
chmod 755 "$out" "$out/praxiom"
runner=()
if [ "$(id -u)" = 0 ]; then
  runner=(runuser -u nobody --)
fi
# As the image runs it: an unprivileged user, an empty environment, nothing
# but the binary. It must start and refuse, in one line, to serve without
# configuration.
set +e
msg="$(cd / && "${runner[@]}" /usr/bin/env -i "$out/praxiom" serve 2>&1)"
code=$?
set -e
[ "$code" -eq 1 ] || fail "expected exit 1 without configuration, got $code: $msg"
echo "$msg" | grep -q 'DATABASE_URL is required' || fail "unexpected refusal: $msg"
size=$(du -k "$out/praxiom" | cut -f1)
echo "check-dockerfile: static binary (${size} KiB) without provisioning or dev code runs unprivileged and refuses without configuration; Dockerfile: multi-stage, distroless static, USER nonroot"
