#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the dashboard's browser tests.
#
#   deploy/chromium.sh env    install chromium with apt-get when missing (needs root; the
#                             first time takes a few minutes) and print the shell export
#                             VERWERKER_TEST_CHROMIUM
#
# If VERWERKER_TEST_CHROMIUM names an executable it is reused and nothing is installed.
set -euo pipefail

log() { echo "deploy/chromium.sh: $*" >&2; }

find_chromium() {
  local c
  for c in "${VERWERKER_TEST_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

ensure() {
  local bin
  if bin=$(find_chromium); then printf 'export VERWERKER_TEST_CHROMIUM=%q\n' "$bin"; return 0; fi
  if [ "$(id -u)" != 0 ]; then
    log "chromium is missing and this is not root: install it with 'sudo apt-get install -y chromium'"
    exit 1
  fi
  log "installing chromium with apt-get (once, a few minutes)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2 || {
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2
  }
  bin=$(find_chromium) || { log "chromium did not install"; exit 1; }
  printf 'export VERWERKER_TEST_CHROMIUM=%q\n' "$bin"
}

case "${1:-}" in
  env) ensure ;;
  *) echo "usage: $0 env" >&2; exit 2 ;;
esac
