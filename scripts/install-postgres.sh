#!/usr/bin/env bash
# Installs PostgreSQL's server binaries (initdb, pg_ctl, postgres) from the Debian packages, for the shared-ledger
# tests and bench: they start and stop a throwaway server of their own (test/support/postgres.ts), so no cluster
# is created or started here. Idempotent: when the binaries are already there, it does nothing.
set -euo pipefail

have_postgres() {
  for bin in /usr/lib/postgresql/*/bin; do
    [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && return 0
  done
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1
}

if have_postgres; then
  echo "install-postgres: PostgreSQL binaries already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-postgres: no apt-get here; install PostgreSQL (initdb, pg_ctl) yourself, or set SWITCHBOARD_SKIP_PG=1 to skip its suites" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# No default cluster: nothing listens on 5432 after the install, the tests bring their own server.
$SUDO mkdir -p /etc/postgresql-common
echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends postgresql
have_postgres || { echo "install-postgres: installed, yet initdb/pg_ctl not found" >&2; exit 1; }
echo "install-postgres: done"
