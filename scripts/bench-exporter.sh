#!/usr/bin/env bash
# Benchmarks pg-batch-exporter against Debian's prometheus-postgres-exporter (0.11) on one
# PostgreSQL server, in one run: scrape latency, queries and connections per scrape, RSS, series.
# Method and results: docs/benchmarks.md. The measuring program is ExporterBenchmark in the bench
# module: the server comes from the harness, our exporter starts through exporter/bin/pg-batch-exporter,
# scrapes go through java.net.http, PostgreSQL is read with pgjdbc. Everything listens on loopback
# and is stopped and removed on exit.
#
#   scripts/bench-exporter.sh [--pg 15|16|17|18] [--scrapes N] [--out DIR] [--ours-args "ARGS"]
#                             [--no-memory] [--tables N] [--sessions N] [--warmup N]
#                             [--accounting-scrapes N] [--pause SECONDS] [--background-seconds N]
#
# --ours-args passes flags to our exporter (what-if runs, e.g. "--no-collector.database");
# PGBT_EXPORTER_JAR=path benchmarks another build of the jar; --no-memory skips the JVM-options
# memory comparison at the end. Default PostgreSQL 16: the newest major on which postgres_exporter
# 0.11 still runs all its default collectors (17 moved the checkpoint columns out of
# pg_stat_bgwriter) and the first with pg_stat_io.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
case "${1:-}" in -h|--help) sed -n '2,17p' "$0"; exit 0 ;; esac
bench_prepare
# Writes results.md (also printed), results.json, environment.txt and both exporters' logs into --out
# (default target/bench-exporter). Bounded: a stuck scrape or server can't keep the bench (and its servers) alive for ever; the
# harness stops its servers when the JVM exits, and the exporters are children of it.
exec timeout 40m "${bench_java[@]}" io.pgbatchtelemetry.bench.ExporterBenchmark "$@"
