#!/usr/bin/env bash
# Tries `make dev` as a new user would: waits for the printed curl line, runs
# it and expects the user object; the first time also invites someone and
# finds the invitation email in the Mailpit the start-up lines name; stops it
# with Ctrl-C (SIGINT to the process group, as a terminal does) and checks
# that PostgreSQL and Mailpit stopped too; starts it again and checks that the
# data survived (same user id).
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
export PRAXIOM_DATA_DIR="$work/data"
export PORT="${DEV_SMOKE_PORT:-18080}"
trap 'rm -rf "$work"' EXIT

# Mailpit is built once (a few minutes the first time) before the timed runs.
GO="${GO:-go}" bash scripts/mailpit.sh >/dev/null

# check_email invites someone as the dev user and waits for the email in
# Mailpit (its web UI's API).
check_email() {
  local log="$1" line="$2"
  local ui token base ws
  ui="$(grep -o 'Mailpit (every email the server sends lands here): http://[0-9.:]*' "$log" | grep -o 'http://[0-9.:]*' | head -1)"
  if [ -z "$ui" ]; then
    echo "dev-smoke: no Mailpit URL printed:" >&2
    cat "$log" >&2
    return 1
  fi
  token="$(echo "$line" | sed -n "s/.*Bearer \([^']*\)'.*/\1/p")"
  base="$(echo "$line" | grep -o 'http://localhost:[0-9]*')"
  ws="$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"name":"Smoke <Test>"}' "$base/api/workspaces" | sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p')"
  if [ -z "$ws" ]; then
    echo "dev-smoke: could not create a workspace" >&2
    return 1
  fi
  curl -s -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"email":"smoke-invitee@example.com","role":"member"}' "$base/api/workspaces/$ws/invitations"
  for _ in $(seq 1 50); do
    if curl -s "$ui/api/v1/messages" | grep -q 'smoke-invitee@example.com'; then
      echo "dev-smoke: the invitation email reached Mailpit ($ui)" >&2
      return 0
    fi
    sleep 0.2
  done
  echo "dev-smoke: no invitation email in Mailpit at $ui:" >&2
  curl -s "$ui/api/v1/messages" >&2 || true
  cat "$log" >&2
  return 1
}

run_once() {
  local log="$work/dev.log"
  : >"$log"
  setsid make dev >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do
    grep -q "curl -s" "$log" && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "dev-smoke: make dev exited early:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.5
  done
  local line
  line="$(grep -o "curl -s .*" "$log" | head -1)"
  if [ -z "$line" ]; then
    echo "dev-smoke: no curl line printed:" >&2
    cat "$log" >&2
    kill -INT -- "-$pid" || true
    return 1
  fi
  local out
  out="$(eval "$line")"
  local mailed=0
  if [ "${1:-}" = "mail" ]; then
    check_email "$log" "$line" || mailed=1
  fi
  kill -INT -- "-$pid"
  wait "$pid" || true
  if [ "$mailed" != 0 ]; then
    return 1
  fi
  if pgrep -f "$PRAXIOM_DATA_DIR/postgres" >/dev/null; then
    echo "dev-smoke: PostgreSQL still running after Ctrl-C" >&2
    return 1
  fi
  if pgrep -f "$PRAXIOM_DATA_DIR/mailpit" >/dev/null; then
    echo "dev-smoke: Mailpit still running after Ctrl-C" >&2
    return 1
  fi
  case "$out" in
    *'"email":"dev@example.com"'*) ;;
    *) echo "dev-smoke: unexpected answer: $out" >&2; cat "$log" >&2; return 1 ;;
  esac
  echo "$out" | sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p'
}

first="$(run_once mail)"
second="$(run_once)"
if [ -z "$first" ] || [ "$first" != "$second" ]; then
  echo "dev-smoke: the user did not survive a restart ($first vs $second)" >&2
  exit 1
fi
echo "dev-smoke: make dev printed a working curl line and its Mailpit, which caught an invitation; Ctrl-C stopped everything; data survived a restart (user $first)"
