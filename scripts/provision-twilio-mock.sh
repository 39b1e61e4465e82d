#!/usr/bin/env bash
# Install Stoplight Prism and Twilio's OpenAPI description into deploy/twilio-mock/node_modules.
#
# Idempotent and fast once done: it does nothing when Prism and the spec are already there.
# PRONTO_TWILIO_MOCK_DIR overrides where the package.json lives.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${PRONTO_TWILIO_MOCK_DIR:-$here/../deploy/twilio-mock}
spec=node_modules/@twilio/cli-core/src/services/twilio-api/twilio_api_v2010.json

log() { printf 'provision-twilio-mock: %s\n' "$*"; }

cd "$dir"
if [[ -x node_modules/.bin/prism && -f $spec ]]; then
  # Read the version from its package.json: starting node just to ask costs a second.
  version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' node_modules/@stoplight/prism-cli/package.json)
  log "present: prism $version in $PWD"
  exit 0
fi
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is missing: install Node.js 20 or newer" >&2; exit 1; }
done

started=$(date +%s)
# npm ci installs exactly the committed lockfile; fall back to install only if it is absent.
if [[ -f package-lock.json ]]; then
  log "npm ci in $PWD"
  npm ci --no-audit --no-fund --loglevel=error
else
  log "npm install in $PWD (no lockfile)"
  npm install --no-audit --no-fund --loglevel=error
fi
[[ -x node_modules/.bin/prism && -f $spec ]] || { log "prism or the Twilio spec is missing after install" >&2; exit 1; }
log "installed prism $(node_modules/.bin/prism --version) in $(($(date +%s) - started)) s"
