#!/usr/bin/env bash
# First start only (docker-entrypoint-initdb.d): install the telemetry schema (pg_cron jobs included, since
# pg_cron is preloaded) and create the exporter's pg_monitor-only login.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -f /opt/pg-batch-telemetry/sql/install.sql

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v monitor_password="${PGBT_MONITOR_PASSWORD:?set PGBT_MONITOR_PASSWORD}" <<'SQL'
CREATE ROLE pgbt_monitor LOGIN PASSWORD :'monitor_password' IN ROLE pg_monitor, telemetry_reader;
SQL
