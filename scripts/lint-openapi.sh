#!/usr/bin/env bash
# Lints the OpenAPI contract api/openapi.yaml with Redocly CLI (`make lint`).
#
# Version: pinned below, run through npx from the npm registry (cached in
# npm's cache after the first run). 2.x needs Node.js 20.19+ or 22.12+.
# Rules: redocly.yaml at the repository root (recommended-strict, so any
# finding fails, with the rules that contradict what api/openapi.yaml
# deliberately does turned off; redocly.yaml says why for each).
#
# Node.js and npm come from scripts/provision.sh (`make lint` runs it first);
# a Node.js older than the CLI supports (Debian 12's own is 18.x) stops the
# run with a clear message. The machines this project runs on ship Node.js 20.
set -euo pipefail
cd "$(dirname "$0")/.."

REDOCLY_CLI_VERSION=2.77.0

if ! command -v npx >/dev/null 2>&1; then
  echo "lint-openapi: npx (Node.js and npm) is not installed: scripts/provision.sh node installs it (as root)" >&2
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "lint-openapi: Redocly CLI $REDOCLY_CLI_VERSION needs Node.js 20.19+ or 22.12+, found $(node --version)" >&2
  exit 1
fi

# No usage telemetry, update notices, funding or audit chatter: the only
# network use is fetching the pinned package from the registry.
export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true
export NO_UPDATE_NOTIFIER=1
export npm_config_update_notifier=false
export npm_config_fund=false
export npm_config_audit=false

exec npx --yes "@redocly/cli@$REDOCLY_CLI_VERSION" lint --config redocly.yaml api/openapi.yaml
