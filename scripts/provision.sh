#!/usr/bin/env bash
# Installs on this host what the make targets need, and prepares the data
# directory of the development PostgreSQL. Quick when everything is there.
#
#   scripts/provision.sh [--pgdata DIR] TOOL...
#
# TOOL is one of:
#   postgres  PostgreSQL's server programs (initdb, pg_ctl, postgres) on PATH
#             or in /usr/lib/postgresql/*/bin; as root, also the postgres
#             system user that internal/localpg runs them as (PostgreSQL
#             refuses to run as root) and runuser
#   redis     redis-server (tests that need Redis start a private one)
#   chromium  a headless browser (the test of the API reference page)
#   node      Node.js with npm and npx (the OpenAPI lint)
#   wrk       the HTTP load generator (make bench)
#
# What is missing is installed with apt-get (after apt-get update) when this
# runs as root; otherwise one line names what to install, and it exits 1.
#
# --pgdata DIR (implies postgres): as root, makes DIR exist, owned by postgres
# with mode 0700, and its parent directories traversable by postgres, so that
# the cluster can run there as that user. Not root, it does nothing: the
# cluster runs as you and initdb creates DIR.
set -euo pipefail

pgdata=""
tools=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pgdata) pgdata="${2:?provision: --pgdata needs a directory}"; shift 2 ;;
    --pgdata=*) pgdata="${1#--pgdata=}"; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*) echo "provision: unknown option $1" >&2; exit 2 ;;
    *) tools+=("$1"); shift ;;
  esac
done
if [ -n "$pgdata" ]; then
  tools+=(postgres)
fi

is_root=false
if [ "$(id -u)" = 0 ]; then
  is_root=true
fi

has_postgres() {
  local d
  if command -v initdb >/dev/null 2>&1; then
    d="$(dirname "$(readlink -f "$(command -v initdb)")")"
    if [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
      return 0
    fi
  fi
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
      return 0
    fi
  done
  return 1
}

# present TOOL reports whether TOOL is installed; package TOOL names its
# Debian packages.
present() {
  case "$1" in
    postgres) has_postgres ;;
    redis) command -v redis-server >/dev/null 2>&1 ;;
    chromium) command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ;;
    node) command -v node >/dev/null 2>&1 && command -v npx >/dev/null 2>&1 ;;
    wrk) command -v wrk >/dev/null 2>&1 ;;
    *) echo "provision: unknown tool $1 (postgres, redis, chromium, node, wrk)" >&2; exit 2 ;;
  esac
}
package() {
  case "$1" in
    postgres) echo postgresql ;;
    redis) echo redis-server ;;
    chromium) echo chromium ;;
    node) echo nodejs npm ;;
    wrk) echo wrk ;;
  esac
}

missing=()
packages=()
for t in "${tools[@]}"; do
  if ! present "$t"; then
    missing+=("$t")
    read -r -a p <<<"$(package "$t")"
    packages+=("${p[@]}")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if ! $is_root || ! command -v apt-get >/dev/null 2>&1; then
    echo "provision: missing ${missing[*]}; install first: sudo apt-get install ${packages[*]}" >&2
    exit 1
  fi
  start=$SECONDS
  echo "provision: installing ${packages[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  for t in "${missing[@]}"; do
    if ! present "$t"; then
      echo "provision: apt-get installed $(package "$t") but $t is still not found" >&2
      exit 1
    fi
  done
  echo "provision: installed ${packages[*]} in $((SECONDS - start))s"
fi

# As root, PostgreSQL runs as the postgres user: it must exist (the Debian
# package creates it; a PostgreSQL from elsewhere may not have).
wants_postgres=false
for t in "${tools[@]}"; do
  if [ "$t" = postgres ]; then
    wants_postgres=true
  fi
done
if $wants_postgres && $is_root; then
  if ! command -v runuser >/dev/null 2>&1; then
    echo "provision: running as root but runuser is missing (PostgreSQL refuses to run as root): install util-linux" >&2
    exit 1
  fi
  if ! id -u postgres >/dev/null 2>&1; then
    echo "provision: creating the system user postgres"
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
      --shell /bin/bash --comment "PostgreSQL administrator" postgres
  fi
fi

if [ -n "$pgdata" ] && $is_root; then
  mkdir -p "$pgdata"
  if [ "$(stat -c %U "$pgdata")" != postgres ]; then
    echo "provision: giving $pgdata to postgres"
    chown -R postgres:postgres "$pgdata"
  fi
  chmod 700 "$pgdata"
  # From / down, so that each test sees its parents already traversable.
  d=""
  IFS=/ read -r -a parts <<<"$(dirname "$(readlink -f "$pgdata")")"
  for part in "${parts[@]}"; do
    if [ -z "$part" ]; then
      continue
    fi
    d="$d/$part"
    if ! runuser -u postgres -- test -x "$d"; then
      echo "provision: making $d traversable for postgres (o+x)"
      chmod o+x "$d"
    fi
  done
fi
