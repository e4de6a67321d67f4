#!/usr/bin/env bash
# What the statements collector adds to a scrape: our exporter with and without it, side by side, on one
# PostgreSQL server with pg_stat_statements (max 10000) holding N distinct statements, scraped as Prometheus
# scrapes. Method and results: docs/statements-benchmark.md. The measuring program is StatementsScrapeBenchmark
# in the bench module (server from the harness, exporters through exporter/bin/pg-batch-exporter).
#
#   scripts/bench-statements-scrape.sh [--pg 15|16|17|18] [--statements N] [--scrapes N] [--warmup N]
#                                      [--time-scale X] [--scrape-interval D] [--statements-interval D] [--out DIR]
#
# Defaults: PostgreSQL 15, 5000 statements, 200 measured scrapes after 20 warm-up ones, Prometheus' scrape
# interval from prometheus/prometheus.yml and statements.interval from the exporter's reference.conf, both
# divided by --time-scale (10) so the run takes minutes with the same ratio of the two. Writes results.md
# (printed) and results.json into --out (default target/bench-statements-scrape).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
case "${1:-}" in -h|--help) sed -n '2,13p' "$0"; exit 0 ;; esac
bench_prepare
# Bounded: a stuck scrape or server can't keep the bench (and its servers) alive for ever.
exec timeout 40m "${bench_java[@]}" io.pgbatchtelemetry.bench.StatementsScrapeBenchmark "$@"
