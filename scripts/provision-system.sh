#!/usr/bin/env bash
# Install the Debian tools that Pronto's tests drive: prometheus (with promtool), chromium, kcat.
#
# Idempotent: a tool already on PATH is skipped, and `apt-get update` runs only when something
# is missing. Run as root. It never leaves a system service running: there is no init system
# here, and Debian's maintainer scripts would otherwise try to start the prometheus daemon.
set -euo pipefail

# command on PATH -> Debian package that provides it
declare -A PROVIDES=(
  [prometheus]=prometheus
  [promtool]=prometheus
  [chromium]=chromium
  [kcat]=kcat
)
# Without recommends, chromium renders text as boxes on a bare machine; screenshots need a font.
EXTRA_FOR_CHROMIUM=(fonts-liberation)

log() { printf 'provision-system: %s\n' "$*"; }

missing=()
for cmd in prometheus promtool chromium kcat; do
  if command -v "$cmd" >/dev/null 2>&1; then
    log "$cmd: present ($(command -v "$cmd"))"
  else
    pkg=${PROVIDES[$cmd]}
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "nothing to install"
  exit 0
fi
if [[ " ${missing[*]} " == *" chromium "* ]]; then
  missing+=("${EXTRA_FOR_CHROMIUM[@]}")
fi

if [[ $(id -u) -ne 0 ]]; then
  log "missing: ${missing[*]}; run this script as root to install them" >&2
  exit 1
fi

# Deny every service start for the duration of the install (exit 101 = "action forbidden").
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [[ $created_policy -eq 1 ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT

before=$(pgrep -x prometheus || true)

started=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt-get update -qq
log "installing: ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "installed in $(($(date +%s) - started)) s"

# Belt and braces: a daemon that started anyway (not one that was running before) is stopped.
for pid in $(pgrep -x prometheus || true); do
  if ! grep -qx "$pid" <<<"$before"; then
    log "stopping prometheus daemon $pid started by the install"
    kill "$pid" 2>/dev/null || true
  fi
done

for cmd in prometheus promtool chromium kcat; do
  command -v "$cmd" >/dev/null 2>&1 || { log "$cmd still missing after install" >&2; exit 1; }
done
log "ready: $(prometheus --version 2>&1 | head -1)"
log "ready: $(chromium --version 2>/dev/null | head -1)"
log "ready: kcat $(kcat -V 2>&1 | head -1)"
