#!/usr/bin/env bash
# Makes sure axe-core (the accessibility engine the dashboard's browser tests inject) is
# installed from the npm registry into a cache directory.
#
#   deploy/axe.sh env    install axe-core $AXE_VERSION once into
#                        ~/.cache/verwerker/axe-core-$AXE_VERSION (npm) and print the shell
#                        export VERWERKER_TEST_AXE (the path of axe.min.js)
#
# The second run finds the cache and does nothing else.
set -euo pipefail

AXE_VERSION=4.14.1
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/verwerker/axe-core-$AXE_VERSION"
FILE="$CACHE/node_modules/axe-core/axe.min.js"

log() { echo "deploy/axe.sh: $*" >&2; }

ensure() {
  if [ ! -s "$FILE" ]; then
    command -v npm >/dev/null || { log "npm is missing: install Node.js (apt-get install -y npm)"; exit 1; }
    log "installing axe-core $AXE_VERSION from the npm registry into $CACHE (once)"
    mkdir -p "$CACHE"
    npm install --prefix "$CACHE" --no-save --no-audit --no-fund --ignore-scripts "axe-core@$AXE_VERSION" >&2
    [ -s "$FILE" ] || { log "axe-core did not install"; exit 1; }
  fi
  printf 'export VERWERKER_TEST_AXE=%q\n' "$FILE"
}

case "${1:-}" in
  env) ensure ;;
  *) echo "usage: $0 env" >&2; exit 2 ;;
esac
