#!/usr/bin/env bash
# Benchmark of the wait-event sampler (see docs/sampler-benchmark.md for the method and results).
#
#   scripts/sampler-benchmark.sh            # defaults: 3 rounds x 30 s per mode, pgbench -c 4, scale 10
#   ROUNDS=5 DURATION=60 scripts/sampler-benchmark.sh
#   PARTS=query JAVA_OPTS=-Xmx64m scripts/sampler-benchmark.sh    # only the query cost and RSS at 1000 sessions
#   (also: CLIENTS, SCALE, QUERY_RUNS_SECONDS, EXPORTER_WARMUP, PG_VERSION=15..18, SESSIONS=10,200,1000)
#
# The program is SamplerBenchmark in the bench module: a throw-away PostgreSQL from the harness
# (Debian's 15 by default), pgbench from Debian's PostgreSQL 15, the exporter through
# exporter/bin/pg-batch-exporter (exporter/bin/jvm.options, then JAVA_OPTS). It measures:
#  1. pgbench TPS with the exporter off, sampling every 1 s and every 100 ms: the three modes in the
#     same run, interleaved round by round (the order rotates), reported as ratios to "off";
#  2. the sampler query's cost with 10, 200 and 1000 other sessions (9 in 10 in pg_sleep, 1 in 10
#     blocked on a row lock): client-side latency over many runs (pgbench, prepared, like JDBC), and
#     the server-side execution time (EXPLAIN ANALYZE, TIMING OFF);
#  3. the exporter's resident memory (VmRSS) while sampling, during the TPS runs and at 1000 sessions;
#  4. CPU time (utime + stime from /proc/<pid>/stat) of the exporter JVM and of the sampler's backend
#     during the TPS runs, and of the backend running the timed query.
# The query timed is the exporter's own (exporter/src/main/resources/.../sampler/activity-sample.sql).
# Results: target/sampler-benchmark/<time>/summary.md (and the raw pgbench logs next to it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench_prepare
exec "${bench_java[@]}" io.pgbatchtelemetry.bench.SamplerBenchmark --rounds "${ROUNDS:-3}" --duration "${DURATION:-30}" \
  --clients "${CLIENTS:-4}" --scale "${SCALE:-10}" --query-runs-seconds "${QUERY_RUNS_SECONDS:-10}" \
  --exporter-warmup "${EXPORTER_WARMUP:-5}" --parts "${PARTS:-tps,query}" --pg "${PG_VERSION:-15}" \
  --sessions "${SESSIONS:-10,200,1000}" --java-opts "${JAVA_OPTS:-}"
