#!/usr/bin/env bash
# Soak test: pgbench load on a throw-away PostgreSQL (started by the harness) plus one scrape per
# second, for a while, while the exporter's RSS and thread count are sampled. Prints a summary and
# writes a CSV; exits 1 when memory or threads keep growing after warm-up. The program is Soak in the
# bench module; the exporter starts through exporter/bin/pg-batch-exporter (exporter/bin/jvm.options).
#
#   scripts/soak.sh                         # 10 minutes
#   SOAK_SECONDS=120 scripts/soak.sh        # shorter
#
# Settings (environment):
#   SOAK_SECONDS=600      how long the load and the scrapes run
#   SCRAPE_INTERVAL=1     seconds between scrapes (a new connection each, as curl)
#   SAMPLE_EVERY=10       seconds between RSS/thread samples
#   PGBENCH_CLIENTS=4     pgbench clients
#   PGBENCH_RATE=200      pgbench target transactions per second (bounded: the machine is shared)
#   PGBENCH_SCALE=10      pgbench -i scale
#   JAVA_OPTS             extra JVM flags, after those of exporter/bin/jvm.options
#   PG_VERSION=15         PostgreSQL major version (15-18, from the harness)
#   SOAK_OUT              CSV of samples (default: target/soak-<date>.csv)
# Everything listens on 127.0.0.1 only, and everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench_prepare
args=(--seconds "${SOAK_SECONDS:-600}" --scrape-interval "${SCRAPE_INTERVAL:-1}" --sample-every "${SAMPLE_EVERY:-10}"
  --pgbench-clients "${PGBENCH_CLIENTS:-4}" --pgbench-rate "${PGBENCH_RATE:-200}" --pgbench-scale "${PGBENCH_SCALE:-10}"
  --pg "${PG_VERSION:-15}" --java-opts "${JAVA_OPTS:-}")
[[ -n ${SOAK_OUT:-} ]] && args+=(--out "$SOAK_OUT")
exec "${bench_java[@]}" io.pgbatchtelemetry.bench.Soak "${args[@]}"
