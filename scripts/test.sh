#!/usr/bin/env bash
# The project's test command: installs what the tests need on a fresh Debian machine
# (PostgreSQL 15 + pg_cron, Prometheus, Alertmanager, postgres_exporter; Maven dependencies),
# then builds everything and runs every test against real servers started by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# PGBT_PG_VERSIONS narrows the PostgreSQL versions (default 15,16,17,18).
exec mvn -B -ntp verify "$@"
