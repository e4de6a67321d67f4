#!/usr/bin/env bash
# The product's main job in one command: builds the exporter and the demo, then starts an embedded
# PostgreSQL 17 with a small batch workload and the exporter on :9187. Ctrl-C stops and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
mvn -B -ntp -q -DskipTests package
# the exporter runs inside the demo's JVM: the exporter's JVM options (exporter/bin/jvm.options)
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec java @exporter/bin/jvm.options -jar demo/target/pg-batch-demo.jar "$@"
