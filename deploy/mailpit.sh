#!/usr/bin/env bash
# Makes sure a real local SMTP server (mailpit) is running for the tests.
#
#   deploy/mailpit.sh env    install mailpit if missing (go install, into $(go env GOPATH)/bin),
#                            start it on 127.0.0.1:1025 (SMTP) and 127.0.0.1:8025 (HTTP API)
#                            unless one already answers, and print the shell exports
#                            VERWERKER_TEST_SMTP_URL and VERWERKER_TEST_MAILPIT_URL
#
# If VERWERKER_TEST_SMTP_URL and VERWERKER_TEST_MAILPIT_URL are set and the API answers,
# they are reused and nothing is installed or started. mailpit keeps running after the
# tests (it is reused next time); stop it with: kill "$(cat "${TMPDIR:-/tmp}/verwerker-mailpit.pid")"
set -euo pipefail

MAILPIT_VERSION=v1.27.11
SMTP_ADDR=127.0.0.1:1025
HTTP_ADDR=127.0.0.1:8025

log() { echo "deploy/mailpit.sh: $*" >&2; }

answers() { curl -fsS -m 2 -o /dev/null "$1/api/v1/messages?limit=1" 2>/dev/null; }

print_env() {
  printf 'export VERWERKER_TEST_SMTP_URL=%q VERWERKER_TEST_MAILPIT_URL=%q\n' "$1" "$2"
}

ensure() {
  if [ -n "${VERWERKER_TEST_SMTP_URL:-}" ] && [ -n "${VERWERKER_TEST_MAILPIT_URL:-}" ] && answers "$VERWERKER_TEST_MAILPIT_URL"; then
    print_env "$VERWERKER_TEST_SMTP_URL" "$VERWERKER_TEST_MAILPIT_URL"; return 0
  fi
  local smtp="smtp://$SMTP_ADDR" api="http://$HTTP_ADDR"
  if answers "$api"; then print_env "$smtp" "$api"; return 0; fi
  local bin
  bin="$(go env GOPATH)/bin/mailpit"
  if [ ! -x "$bin" ]; then
    log "installing mailpit $MAILPIT_VERSION with go install (once, about 30 s)"
    GOFLAGS= go install "github.com/axllent/mailpit@$MAILPIT_VERSION" >&2
  fi
  local dir="${TMPDIR:-/tmp}"
  log "starting mailpit (SMTP $SMTP_ADDR, HTTP $HTTP_ADDR; log $dir/verwerker-mailpit.log)"
  # setsid: mailpit outlives this script and make, and is reused by the next run.
  setsid "$bin" --smtp "$SMTP_ADDR" --listen "$HTTP_ADDR" --max 5000 \
    --smtp-auth-accept-any --smtp-auth-allow-insecure \
    >"$dir/verwerker-mailpit.log" 2>&1 </dev/null &
  echo $! >"$dir/verwerker-mailpit.pid"
  local i
  for i in $(seq 1 50); do
    if answers "$api"; then print_env "$smtp" "$api"; return 0; fi
    sleep 0.2
  done
  log "mailpit did not answer on $api; see $dir/verwerker-mailpit.log"
  exit 1
}

case "${1:-}" in
  env) ensure ;;
  *) echo "usage: $0 env" >&2; exit 2 ;;
esac
