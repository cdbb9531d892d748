#!/usr/bin/env bash
# Makes sure PostgreSQL is available for verwerker.
#
#   deploy/postgres.sh binaries   install the server binaries (initdb, postgres) if missing;
#                                 enough for `verwerker dev`, which makes its own throwaway cluster
#   deploy/postgres.sh server     also make sure a server is running and a superuser role
#                                 "verwerker" exists; prints the URL the tests should use
#
# If VERWERKER_TEST_DATABASE_URL or DATABASE_URL points at a server that answers, `server`
# reuses it and installs nothing. Installing needs root (apt-get); on a machine without
# Debian packages, install PostgreSQL 15 or newer yourself and set VERWERKER_TEST_DATABASE_URL.
set -euo pipefail

log() { echo "deploy/postgres.sh: $*" >&2; }

find_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  done
  return 1
}

install_binaries() {
  if find_bin >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL is not installed and this is not root. Install it with: sudo apt-get install -y postgresql"
    exit 1
  fi
  log "installing PostgreSQL with apt-get (once)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql postgresql-client >&2
  find_bin >/dev/null || { log "PostgreSQL binaries still not found after installing"; exit 1; }
}

answers() { [ -n "$1" ] && psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1; }

ensure_server() {
  local url
  for url in "${VERWERKER_TEST_DATABASE_URL:-}" "${DATABASE_URL:-}"; do
    if answers "$url"; then echo "$url"; return 0; fi
  done
  install_binaries
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    log "pg_lsclusters not found (Debian's postgresql-common); set VERWERKER_TEST_DATABASE_URL to a running server"
    exit 1
  fi
  local ver name port status
  read -r ver name port status _ < <(pg_lsclusters --no-header | head -n1) || true
  if [ -z "${ver:-}" ]; then
    ver=$(basename "$(dirname "$(find_bin)")")
    log "creating PostgreSQL $ver cluster 'main'"
    pg_createcluster "$ver" main >&2
    read -r ver name port status _ < <(pg_lsclusters --no-header | head -n1)
  fi
  if [ "$status" != online ]; then
    log "starting PostgreSQL $ver/$name on port $port"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2
  fi
  local i
  for i in $(seq 1 60); do
    (cd / && runuser -u postgres -- psql -p "$port" -Atqc 'SELECT 1' >/dev/null 2>&1) && break
    sleep 0.5
  done
  # A superuser for the tests: they create a database per package and, to prove that
  # tampering is detected, bypass the audit tables' guards as an attacker with superuser would.
  (cd / && runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -Atq >&2) <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'verwerker') THEN
    CREATE ROLE verwerker LOGIN SUPERUSER PASSWORD 'verwerker';
  END IF;
END $$;
SQL
  url="postgres://verwerker:verwerker@127.0.0.1:$port/postgres?sslmode=disable"
  answers "$url" || { log "cannot connect to $url (check pg_hba.conf allows password logins on 127.0.0.1)"; exit 1; }
  echo "$url"
}

case "${1:-}" in
  binaries) install_binaries; find_bin ;;
  server) ensure_server ;;
  *) echo "usage: $0 binaries|server" >&2; exit 2 ;;
esac
