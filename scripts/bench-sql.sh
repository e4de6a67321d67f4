#!/usr/bin/env bash
# Benchmark of the telemetry schema on a throw-away PostgreSQL 15-18 started by the harness.
#   scripts/bench-sql.sh [--pg 15|16|17|18] [--database NAME] [--sessions N]
# Creates database NAME (default telemetry_bench), installs sql/install.sql there with psql, then:
#   1. sample() with 200 sessions connected (150 idle, 50 running pg_sleep), 20 calls
#   2. snapshot() with 100 tracked tables, 20 calls in one session, and the median of 9 calls
#      each in a new session (as pg_cron runs it)
#   3. storage per sample/snapshot measured from relation sizes -> rows/day and bytes/day at the defaults
#   4. 7 days of synthetic history at the default rates (2016 snapshots, 20160 samples), then
#      compare() / wait_summary() / diagnose() over a 1-hour window and compare() over 7 days
# Prints one line per measurement (milliseconds per call; with "cpu" and the backend's CPU
# milliseconds per call where the server can read /proc/self). The program is SqlBenchmark in the
# bench module (the server from the harness, JDBC for the measurements).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
case "${1:-}" in -h|--help) sed -n '2,13p' "$0"; exit 0 ;; esac
bench_prepare
exec "${bench_java[@]}" io.pgbatchtelemetry.bench.SqlBenchmark "$@"
