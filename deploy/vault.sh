#!/usr/bin/env bash
# HashiCorp Vault for verwerker: the Transit engine holds the tenant keys.
#
#   deploy/vault.sh env        build the vault binary if it is missing (see bin), start a dev server
#                              on 127.0.0.1:8200 unless one already answers, bootstrap it, and print
#                              the shell exports VERWERKER_TEST_VAULT_ADDR, VERWERKER_TEST_VAULT_TOKEN
#                              (the dev server's root token, for test administration only) and
#                              VERWERKER_TEST_VAULT_BIN (tests start private servers with it)
#   deploy/vault.sh bin        build the vault binary if it is missing and print its path
#   deploy/vault.sh bootstrap  set up a Vault for verwerker, as an operator with an admin token in
#                              VAULT_ADDR and VAULT_TOKEN: enable Transit at transit/ (with
#                              disable_upsert), write the policy "verwerker" (deploy/vault/verwerker.hcl),
#                              enable AppRole and create the role "verwerker"; prints the role id.
#                              Safe to run again.
#
# Vault has no Debian package and `go install` cannot build it (replace directives), so the
# tools module deploy/vault builds it: the first build takes about 15 minutes and 6 GB of RAM
# on 2 cores; the binary is kept in ${XDG_CACHE_HOME:-$HOME/.cache}/verwerker/vault-<version>/
# (outside the checkout, so fresh clones reuse it). The dev server keeps running after the tests
# (it is reused next time, in memory only); stop it with:
#   kill "$(cat "${TMPDIR:-/tmp}/verwerker-vault.pid")"
set -euo pipefail

VAULT_VERSION=v1.21.1
LISTEN=127.0.0.1:8200
ROOT_TOKEN=root
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/verwerker/vault-$VAULT_VERSION"
BIN="$CACHE/vault"

log() { echo "deploy/vault.sh: $*" >&2; }

answers() { curl -fsS -m 2 -o /dev/null "$1/v1/sys/health" 2>/dev/null; }

build() {
  if [ -x "$BIN" ]; then return 0; fi
  mkdir -p "$CACHE"
  log "building vault $VAULT_VERSION into $BIN (once; about 15 minutes and 6 GB of RAM on a cold Go cache)"
  # No -trimpath: it would bypass the build cache that makes rebuilds take seconds.
  (cd "$HERE/vault" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false go build -o "$BIN.tmp.$$" .) >&2
  mv -f "$BIN.tmp.$$" "$BIN"
}

vault_cli() { VAULT_FORMAT=json "$BIN" "$@"; }

bootstrap() {
  : "${VAULT_ADDR:?set VAULT_ADDR}" "${VAULT_TOKEN:?set VAULT_TOKEN to an admin token}"
  build
  # Read the lists whole: with pipefail, grep -q closing the pipe early
  # would make the check fail at random.
  local mounts auths
  mounts=$(vault_cli secrets list)
  if ! grep -q '"transit/"' <<<"$mounts"; then
    log "enabling the Transit engine at transit/"
    vault_cli secrets enable -path=transit transit >/dev/null
  fi
  # Second wall behind the policy: encrypt never creates a missing key on this mount.
  vault_cli write transit/config/keys disable_upsert=true >/dev/null
  vault_cli policy write verwerker "$HERE/vault/verwerker.hcl" >/dev/null
  auths=$(vault_cli auth list)
  if ! grep -q '"approle/"' <<<"$auths"; then
    log "enabling AppRole auth at approle/"
    vault_cli auth enable approle >/dev/null
  fi
  # Tokens live an hour and are renewed by verwerker up to a day, then it logs in again.
  vault_cli write auth/approle/role/verwerker token_policies=verwerker token_ttl=1h token_max_ttl=24h \
    secret_id_ttl=0 token_no_default_policy=false >/dev/null
  local role_id
  role_id=$("$BIN" read -field=role_id auth/approle/role/verwerker/role-id)
  log "bootstrapped $VAULT_ADDR: transit/, policy verwerker, AppRole role verwerker (role id $role_id)"
  log "make a secret id for a replica with: vault write -f auth/approle/role/verwerker/secret-id"
}

print_env() {
  printf 'export VERWERKER_TEST_VAULT_ADDR=%q VERWERKER_TEST_VAULT_TOKEN=%q VERWERKER_TEST_VAULT_BIN=%q\n' "$1" "$2" "$BIN"
}

ensure() {
  local addr="http://$LISTEN" token="$ROOT_TOKEN"
  if [ -n "${VERWERKER_TEST_VAULT_ADDR:-}" ] && [ -n "${VERWERKER_TEST_VAULT_TOKEN:-}" ] && answers "$VERWERKER_TEST_VAULT_ADDR"; then
    addr=$VERWERKER_TEST_VAULT_ADDR token=$VERWERKER_TEST_VAULT_TOKEN
  fi
  build
  if ! answers "$addr"; then
    local dir="${TMPDIR:-/tmp}"
    log "starting a vault dev server on $LISTEN (in memory; log $dir/verwerker-vault.log)"
    mkdir -p "$dir/verwerker-vault-home"
    # setsid: the server outlives this script and make, and is reused by the next run.
    # HOME: the dev server writes its token helper file there, not into the user's home.
    HOME="$dir/verwerker-vault-home" setsid "$BIN" server -dev -dev-root-token-id="$ROOT_TOKEN" \
      -dev-listen-address="$LISTEN" >"$dir/verwerker-vault.log" 2>&1 </dev/null &
    echo $! >"$dir/verwerker-vault.pid"
    local i ok=
    for i in $(seq 1 50); do
      if answers "$addr"; then ok=1; break; fi
      sleep 0.2
    done
    [ -n "$ok" ] || { log "vault did not answer on $addr; see $dir/verwerker-vault.log"; exit 1; }
  fi
  VAULT_ADDR=$addr VAULT_TOKEN=$token bootstrap
  print_env "$addr" "$token"
}

case "${1:-}" in
  env) ensure ;;
  bin) build; echo "$BIN" ;;
  bootstrap) bootstrap ;;
  *) echo "usage: $0 env|bin|bootstrap" >&2; exit 2 ;;
esac
