#!/usr/bin/env bash
# Tries `make dev` as a new user would: waits for the printed curl line, runs
# it and expects the user object; stops it with Ctrl-C (SIGINT to the process
# group, as a terminal does) and checks that PostgreSQL stopped too; starts it
# again and checks that the data survived (same user id).
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
export PRAXIOM_DATA_DIR="$work/data"
export PORT="${DEV_SMOKE_PORT:-18080}"
trap 'rm -rf "$work"' EXIT

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
  kill -INT -- "-$pid"
  wait "$pid" || true
  if pgrep -f "$PRAXIOM_DATA_DIR/postgres" >/dev/null; then
    echo "dev-smoke: PostgreSQL still running after Ctrl-C" >&2
    return 1
  fi
  case "$out" in
    *'"email":"dev@example.com"'*) ;;
    *) echo "dev-smoke: unexpected answer: $out" >&2; cat "$log" >&2; return 1 ;;
  esac
  echo "$out" | sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p'
}

first="$(run_once)"
second="$(run_once)"
if [ -z "$first" ] || [ "$first" != "$second" ]; then
  echo "dev-smoke: the user did not survive a restart ($first vs $second)" >&2
  exit 1
fi
echo "dev-smoke: make dev printed a working curl line; Ctrl-C stopped everything; data survived a restart (user $first)"
