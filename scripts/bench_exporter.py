#!/usr/bin/env python3
"""Measures pg-batch-exporter against postgres_exporter on one PostgreSQL server, in one run.

Driven by scripts/bench-exporter.sh, which starts the server and both exporters and cleans up.
Python 3 standard library only: PostgreSQL is reached through a minimal client of the wire
protocol (simple queries, trust authentication on the Unix socket), enough to set up the
scenarios, hold the client sessions open and read pg_stat_statements / pg_stat_activity.

For each scenario and each exporter it measures:
  - scrape latency (time to the last byte of GET /metrics), p50/p90/p99 over N scrapes, the two
    exporters interleaved round by round (order alternating) so machine load hits both alike:
    once on a new TCP connection per scrape asking for the text format, once as a running
    Prometheus scrapes (one kept-alive connection, OpenMetrics preferred, gzip);
  - queries per scrape: pg_stat_statements calls by the monitoring role during M scrapes of that
    exporter alone, divided by M;
  - connections per scrape: "connection authorized: user=<role>" lines that log_connections wrote
    during those M scrapes, divided by M; and the most backends of the role seen at once;
  - RSS (VmRSS sampled after every round, VmRSS at the end, VmHWM = peak of the process' life);
  - series (non-comment lines) and metric families (# TYPE lines) of one scrape.
"""
import argparse
import gzip
import http.client
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time


# ---------------------------------------------------------------- PostgreSQL wire protocol (v3)

class PgError(Exception):
    pass


class PgSocket:
    """One session over the Unix socket with trust authentication; simple query protocol."""

    def __init__(self, socket_dir, port, user, database, application_name):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(os.path.join(socket_dir, ".s.PGSQL.%d" % port))
        params = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in (
            ("user", user), ("database", database), ("application_name", application_name)))
        payload = struct.pack("!i", 196608) + params + b"\0"
        self.sock.sendall(struct.pack("!i", len(payload) + 4) + payload)
        self._read_until_ready()

    def _recv_exact(self, n):
        chunks = []
        while n > 0:
            chunk = self.sock.recv(n)
            if not chunk:
                raise PgError("server closed the connection")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _message(self):
        kind, length = struct.unpack("!ci", self._recv_exact(5))
        return kind, self._recv_exact(length - 4)

    @staticmethod
    def _error_text(body):
        fields = {}
        for part in body.split(b"\0"):
            if part:
                fields[chr(part[0])] = part[1:].decode(errors="replace")
        return "%s: %s" % (fields.get("C", "?"), fields.get("M", "?"))

    def _read_until_ready(self):
        rows, error = [], None
        while True:
            kind, body = self._message()
            if kind == b"R":
                code = struct.unpack("!i", body[:4])[0]
                if code != 0:
                    raise PgError("server asks for authentication method %d; the bench needs trust on the socket" % code)
            elif kind == b"D":
                count = struct.unpack("!h", body[:2])[0]
                pos, row = 2, []
                for _ in range(count):
                    size = struct.unpack("!i", body[pos:pos + 4])[0]
                    pos += 4
                    if size < 0:
                        row.append(None)
                    else:
                        row.append(body[pos:pos + size].decode())
                        pos += size
                rows.append(row)
            elif kind == b"E":
                error = self._error_text(body)
            elif kind == b"Z":
                if error:
                    raise PgError(error)
                return rows

    def send(self, sql):
        data = sql.encode() + b"\0"
        self.sock.sendall(b"Q" + struct.pack("!i", len(data) + 4) + data)

    def query(self, sql):
        self.send(sql)
        return self._read_until_ready()

    def scalar(self, sql):
        return self.query(sql)[0][0]

    def close(self):
        try:
            self.sock.sendall(b"X" + struct.pack("!i", 4))
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------------- exporters

# The Accept header of Prometheus 2.x scrapes (scrape_protocols' default order)
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")

class Exporter:
    def __init__(self, name, label, port, pid, application_like):
        self.name = name
        self.label = label
        self.port = port
        self.pid = pid
        self.application_like = application_like  # SQL LIKE pattern for its sessions' application_name
        self.kept_alive = None  # the connection scrape_as_prometheus keeps open

    def scrape(self, path="/metrics"):
        """(seconds to the last byte, body). A fresh TCP connection per scrape, as after a Prometheus restart."""
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Accept": "text/plain;version=0.0.4"})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError("%s answered %d" % (self.name, response.status))
        finally:
            conn.close()
        return time.perf_counter() - start, body.decode()

    def scrape_as_prometheus(self):
        """(seconds to the last byte, bytes on the wire, body) over one kept-alive connection, with the
        headers Prometheus 2.x sends (OpenMetrics preferred, gzip): what a running Prometheus sees."""
        reused = self.kept_alive is not None
        if not reused:
            self.kept_alive = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        start = time.perf_counter()
        try:
            self.kept_alive.request("GET", "/metrics", headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"})
            response = self.kept_alive.getresponse()
            wire = response.read()
        except (OSError, http.client.HTTPException):
            self.close_kept_alive()
            if reused:
                return self.scrape_as_prometheus()  # the server closed it while idle; Prometheus reconnects too
            raise
        seconds = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError("%s answered %d" % (self.name, response.status))
        body = gzip.decompress(wire) if response.getheader("Content-Encoding") == "gzip" else wire
        return seconds, len(wire), body.decode()

    def close_kept_alive(self):
        if self.kept_alive is not None:
            self.kept_alive.close()
            self.kept_alive = None

    def memory_kb(self):
        values = {}
        with open("/proc/%d/status" % self.pid) as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    values[key] = int(value.split()[0])
        return values


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU of a process (all its threads) so far; 0 if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def series_lines(body):
    return [line for line in body.splitlines() if line and not line.startswith("#")]


def families(body):
    """Families with at least one sample (a # TYPE line whose name, or name plus a type suffix, has a sample)."""
    declared = [line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")]
    sampled = set()
    for line in series_lines(body):
        m = SAMPLE.match(line)
        if m:
            sampled.add(m.group(1))
    suffixes = ("", "_total", "_info", "_count", "_sum", "_bucket", "_created")
    return [f for f in declared if any(f + suffix in sampled for suffix in suffixes)]


# Families about the exporter itself rather than PostgreSQL (Go runtime, HTTP handler, scrape and
# sampler bookkeeping): counted apart so "diagnostic families" compares PostgreSQL content only.
SELF_FAMILY = re.compile(r"^(go_|process_|promhttp_|pg_exporter_|postgres_exporter_|pg_scrape_|pg_sampler_|pg_up$|pg_static$)")


def diagnostic_families(body):
    """PostgreSQL families other than one-per-setting gauges (postgres_exporter exports every pg_settings row
    as its own family; ours a chosen few): the families that describe activity."""
    return sorted(f for f in families(body) if not SELF_FAMILY.match(f) and not f.startswith("pg_settings_"))


def settings_families(body):
    return sorted(f for f in families(body) if f.startswith("pg_settings_"))


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')


def samples(body, metric):
    out = {}
    for line in series_lines(body):
        m = SAMPLE.match(line)
        if m and m.group(1) == metric:
            out[m.group(2) or ""] = float(m.group(3))
    return out


def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, args):
        self.args = args
        self.admin = PgSocket(args.socket_dir, args.pg_port, "postgres", "postgres", "pgbt-bench-admin")
        self.monitor_oid = self.admin.scalar("SELECT oid FROM pg_roles WHERE rolname = '%s'" % args.monitor_role)
        self.ours = Exporter("pg-batch-exporter", "ours", args.ours_port, args.ours_pid, "pg-batch-exporter%")
        self.theirs = Exporter("postgres_exporter", "postgres_exporter", args.theirs_port, args.theirs_pid, "")
        self.exporters = [self.ours, self.theirs]
        self.sessions = []
        self.previous_series = {}
        self.results = {"scenarios": [], "series_by_sessions": []}

    # -- PostgreSQL side

    def statements_of_monitor(self):
        return int(self.admin.scalar(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE userid = %s" % self.monitor_oid))

    def exec_ms_of_monitor(self):
        return float(self.admin.scalar(
            "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements WHERE userid = %s" % self.monitor_oid))

    def backend_pids(self, exporter):
        """The exporter's sessions: ours are pg-batch-exporter and pg-batch-exporter-sampler,
        postgres_exporter's have no application_name."""
        return [int(r[0]) for r in self.admin.query(
            "SELECT pid FROM pg_stat_activity WHERE usename = '%s' AND coalesce(application_name, '') LIKE '%s'"
            % (self.args.monitor_role, exporter.application_like))]

    def cost_snapshot(self, exporter):
        pids = self.backend_pids(exporter)
        return {"statements": self.statements_of_monitor(), "exec_ms": self.exec_ms_of_monitor(),
                "exporter_cpu": cpu_seconds(exporter.pid), "backend_cpu": {pid: cpu_seconds(pid) for pid in pids}}

    def cost_since(self, exporter, before):
        # backends alive at the end; one opened and closed in between is not seen (none were: see connections)
        backend_cpu = sum(cpu_seconds(pid) - before["backend_cpu"].get(pid, 0.0) for pid in self.backend_pids(exporter))
        return {"statements": self.statements_of_monitor() - before["statements"],
                "exec_ms": self.exec_ms_of_monitor() - before["exec_ms"],
                "exporter_cpu_ms": (cpu_seconds(exporter.pid) - before["exporter_cpu"]) * 1000,
                "backend_cpu_ms": backend_cpu * 1000}

    def measure_background(self, seconds):
        """Nobody scrapes for `seconds`: what do the exporters cost anyway (our sampler)?"""
        log("between scrapes: %d s without scrapes" % seconds)
        self.admin.query("SELECT pg_stat_statements_reset()")
        time.sleep(0.2)
        before = {e.label: self.cost_snapshot(e) for e in self.exporters}
        started = time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - started
        time.sleep(0.3)
        result = {"seconds": elapsed, "statements": self.top_statements(5)}
        first = True
        for e in self.exporters:
            cost = self.cost_since(e, before[e.label])
            if first:  # the role-wide counters are the same for both
                result["role_statements_per_s"] = cost["statements"] / elapsed
                result["role_exec_ms_per_s"] = cost["exec_ms"] / elapsed
                first = False
            result[e.label] = {"exporter_cpu_ms_per_s": cost["exporter_cpu_ms"] / elapsed,
                               "backend_cpu_ms_per_s": cost["backend_cpu_ms"] / elapsed,
                               "backends": len(self.backend_pids(e))}
        return result

    def top_statements(self, limit=25):
        rows = self.admin.query(
            "SELECT calls, round(total_exec_time::numeric, 1), left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
            "FROM pg_stat_statements WHERE userid = %s ORDER BY total_exec_time DESC LIMIT %d" % (self.monitor_oid, limit))
        return [{"calls": int(r[0]), "total_ms": float(r[1]), "query": r[2]} for r in rows]

    def connections_logged(self):
        """Lines 'connection authorized: user=<monitor role>' in the server log so far."""
        needle = "connection authorized: user=%s " % self.args.monitor_role
        with open(self.args.server_log, errors="replace") as log:
            return sum(1 for line in log if needle in line)

    def create_tables(self, count):
        started = time.perf_counter()
        batch = 200
        for first in range(0, count, batch):
            self.admin.query(
                "DO $$ BEGIN FOR i IN %d..%d LOOP "
                "EXECUTE format('CREATE TABLE bench_t%%s (id int PRIMARY KEY, v text)', i); "
                "EXECUTE format('INSERT INTO bench_t%%s SELECT g, md5(g::text) FROM generate_series(1, 10) g', i); "
                "END LOOP; END $$" % (first, min(first + batch, count) - 1))
        self.admin.query("ANALYZE")
        log("created %d tables (with a primary key and 10 rows each) in %.1f s" % (count, time.perf_counter() - started))

    def open_sessions(self, target):
        """Grows the held client sessions to `target`: 1 in 20 active (pg_sleep), 5 in 20 idle in
        transaction (holding an AccessShareLock on a table), the rest idle."""
        while len(self.sessions) < target:
            i = len(self.sessions)
            s = PgSocket(self.args.socket_dir, self.args.pg_port, "bench_app", "postgres", "pgbt-bench-session")
            kind = i % 20
            if kind == 0:
                s.send("SELECT pg_sleep(86400)")
            elif kind <= 5:
                table = "bench_t%d" % (i % self.args.tables) if self.tables_created else "pg_class"
                s.query("BEGIN; SELECT count(*) FROM %s" % table)
            self.sessions.append(s)
        deadline = time.time() + 30
        while time.time() < deadline:
            states = dict((r[0] or "", int(r[1])) for r in self.admin.query(
                "SELECT state, count(*) FROM pg_stat_activity WHERE usename = 'bench_app' GROUP BY 1"))
            if sum(states.values()) == target and states.get("active", 0) == len(range(0, target, 20)):
                return states
            time.sleep(0.1)
        raise RuntimeError("sessions did not reach %d: %s" % (target, states))

    # -- measurements

    def series_snapshot(self, label):
        """Series and families now, and which series appeared or went since the previous snapshot."""
        row = {"situation": label}
        for e in self.exporters:
            _, body = e.scrape()
            identities = {SAMPLE.match(line).group(1) + (SAMPLE.match(line).group(2) or "")
                          for line in series_lines(body) if SAMPLE.match(line)}
            previous = self.previous_series.get(e.label)
            row[e.label] = {"series": len(series_lines(body)), "families": len(families(body))}
            if previous is not None:
                row[e.label]["appeared"] = sorted(identities - previous)
                row[e.label]["went"] = sorted(previous - identities)
            self.previous_series[e.label] = identities
        self.results["series_by_sessions"].append(row)
        log("series %s: %s" % (label, {e.label: row[e.label] for e in self.exporters}))
        if any(row[e.label].get("appeared") or row[e.label].get("went") for e in self.exporters):
            print("series changed at '%s': %s" % (label, {e.label: {k: row[e.label].get(k) for k in ("appeared", "went")}
                                                           for e in self.exporters}), flush=True)

    def run_scenario(self, name):
        args = self.args
        log("scenario %s: warm-up (%d scrapes each)" % (name, args.warmup))
        for _ in range(args.warmup):
            for e in self.exporters:
                e.scrape()

        log("scenario %s: latency, %d rounds interleaved, %.0f ms pause" % (name, args.scrapes, args.pause * 1000))
        latencies = {e.label: [] for e in self.exporters}
        rss_max = {e.label: 0 for e in self.exporters}
        collector_seconds = {}
        ours_scrape_seconds, ours_collectors_sum = [], []
        ours_failures = 0
        last_body = {}
        load_before = os.getloadavg()
        for round_no in range(args.scrapes):
            order = self.exporters if round_no % 2 == 0 else list(reversed(self.exporters))
            for e in order:
                seconds, body = e.scrape()
                latencies[e.label].append(seconds)
                last_body[e.label] = body
                time.sleep(args.pause)
            for e in self.exporters:
                rss_max[e.label] = max(rss_max[e.label], e.memory_kb()["VmRSS"])
            body = last_body["ours"]
            durations = samples(body, "pg_scrape_collector_duration_seconds")
            for labels, value in durations.items():
                collector_seconds.setdefault(labels, []).append(value)
            ours_collectors_sum.append(sum(durations.values()))
            ours_scrape_seconds.append(samples(body, "pg_exporter_scrape_duration_seconds").get("", float("nan")))
            ours_failures += sum(1 for v in samples(body, "pg_scrape_collector_success").values() if v != 1.0)
        load_after = os.getloadavg()

        log("scenario %s: latency as Prometheus scrapes (kept-alive connection, gzip, OpenMetrics), %d rounds"
            % (name, args.scrapes))
        as_prometheus = {e.label: [] for e in self.exporters}
        wire_bytes = {}
        for e in self.exporters:
            e.close_kept_alive()  # a connection of its own per scenario
            e.scrape_as_prometheus()
        for round_no in range(args.scrapes):
            order = self.exporters if round_no % 2 == 0 else list(reversed(self.exporters))
            for e in order:
                seconds, wire_bytes[e.label], _ = e.scrape_as_prometheus()
                as_prometheus[e.label].append(seconds)
                time.sleep(args.pause)

        scenario = {"name": name, "scrapes": args.scrapes, "loadavg_before": load_before, "loadavg_after": load_after,
                    "exporters": {}}
        for e in self.exporters:
            values = latencies[e.label]
            body = last_body[e.label]
            mem = e.memory_kb()
            scenario["exporters"][e.label] = {
                "p50_ms": percentile(values, 50) * 1000,
                "p90_ms": percentile(values, 90) * 1000,
                "p99_ms": percentile(values, 99) * 1000,
                "mean_ms": sum(values) / len(values) * 1000,
                "max_ms": max(values) * 1000,
                "rss_max_sampled_kb": rss_max[e.label],
                "rss_end_kb": mem["VmRSS"],
                "hwm_kb": mem["VmHWM"],
                "series": len(series_lines(body)),
                "families": len(families(body)),
                "settings_families": len(settings_families(body)),
                "diagnostic_families": len(diagnostic_families(body)),
                "diagnostic_family_names": diagnostic_families(body),
                "bytes": len(body.encode()),
                "prometheus_p50_ms": percentile(as_prometheus[e.label], 50) * 1000,
                "prometheus_p90_ms": percentile(as_prometheus[e.label], 90) * 1000,
                "prometheus_p99_ms": percentile(as_prometheus[e.label], 99) * 1000,
                "prometheus_wire_bytes": wire_bytes[e.label],
                "pg_up": samples(body, "pg_up").get("", None),
            }
        scenario["ours_collector_failures"] = ours_failures
        # Where our wall time goes: HTTP alone (the health endpoint, same server and threads), the
        # scrape of PostgreSQL as the coordinator timed it, and within it the collectors' own time.
        # The same scrape with the exposition cut to one family (the client's name[] filter): all the
        # PostgreSQL work and snapshot building, almost none of the writing. Paced like the latency
        # rounds (the other exporter scraped in between), so caches are as cold as there.
        health, one_family = [], []
        for _ in range(50):
            health.append(self.ours.scrape("/-/healthy")[0])
            time.sleep(args.pause)
            self.theirs.scrape()
            time.sleep(args.pause)
            one_family.append(self.ours.scrape("/metrics?name[]=pg_up")[0])
            time.sleep(args.pause)
            self.theirs.scrape()
            time.sleep(args.pause)
        scenario["ours_breakdown_ms"] = {
            "http_total_p50": percentile(latencies["ours"], 50) * 1000,
            "health_endpoint_p50": percentile(health, 50) * 1000,
            "one_family_scrape_p50": percentile(one_family, 50) * 1000,
            "coordinator_scrape_p50": percentile(ours_scrape_seconds, 50) * 1000,
            "collectors_sum_p50": percentile(ours_collectors_sum, 50) * 1000,
        }
        scenario["ours_collector_ms"] = {
            k: {"mean": sum(v) / len(v) * 1000, "p50": percentile(v, 50) * 1000, "p99": percentile(v, 99) * 1000}
            for k, v in sorted(collector_seconds.items(), key=lambda kv: -sum(kv[1]))}
        scenario["theirs_errors"] = {
            "pg_exporter_last_scrape_error": samples(last_body["postgres_exporter"], "pg_exporter_last_scrape_error"),
            "failed_collectors": [k for k, v in samples(last_body["postgres_exporter"], "pg_scrape_collector_success").items() if v != 1.0],
        }

        background = self.measure_background(args.background_seconds)
        scenario["between_scrapes"] = background
        for e in self.exporters:
            log("scenario %s: accounting for %s alone (%d scrapes)" % (name, e.label, args.accounting_scrapes))
            self.admin.query("SELECT pg_stat_statements_reset()")
            time.sleep(0.2)
            cost_before = self.cost_snapshot(e)
            connections_before = self.connections_logged()
            most_backends = 0
            started = time.perf_counter()
            for _ in range(args.accounting_scrapes):
                e.scrape()
                most_backends = max(most_backends, len(self.backend_pids(e)))
                time.sleep(args.pause)
            elapsed = time.perf_counter() - started
            time.sleep(0.3)  # let the last backend's statistics reach pg_stat_statements
            cost = self.cost_since(e, cost_before)
            connections = self.connections_logged() - connections_before
            # What the exporter does between scrapes anyway (our wait-event sampler) is taken out, at
            # the rate measured with nobody scraping, so the numbers are the cost of a scrape.
            rate = background[e.label]
            scrapes = args.accounting_scrapes
            scenario["exporters"][e.label].update({
                "queries_per_scrape": (cost["statements"] - background["role_statements_per_s"] * elapsed) / scrapes,
                "connections_per_scrape": connections / scrapes,
                "most_backends_held": most_backends,
                "exporter_cpu_ms_per_scrape": (cost["exporter_cpu_ms"] - rate["exporter_cpu_ms_per_s"] * elapsed) / scrapes,
                "backend_cpu_ms_per_scrape": (cost["backend_cpu_ms"] - rate["backend_cpu_ms_per_s"] * elapsed) / scrapes,
                "server_exec_ms_per_scrape": (cost["exec_ms"] - background["role_exec_ms_per_s"] * elapsed) / scrapes,
                "accounting_seconds": elapsed,
                "top_statements": self.top_statements(),
            })
        self.results["scenarios"].append(scenario)
        print_scenario(scenario)
        return scenario

    def run_memory_variants(self):
        """Our exporter alone, started with JVM defaults and with the launcher's flags, on the same
        server (2000 tables, 200 sessions), so the launcher's memory flags are checked by measurement."""
        dsn = os.environ["BENCH_DSN"]
        variants = [
            ("java -jar (JVM defaults)", ["java", "-jar", self.args.jar]),
            ("exporter/bin/pg-batch-exporter", [self.args.launcher]),
        ]
        rows = []
        for title, command in variants:
            log("memory: %s: %d sequential scrapes, %d bursts of %d concurrent" % (title, 300, 3, 50))
            rows.append(memory_variant(title, command, dsn, 300, 3, 50))
        self.results["memory_variants"] = rows
        out = ["", "### our exporter's memory by JVM flags (300 sequential scrapes, then 3 bursts of 50 concurrent, then 50)", "",
               "| started as | VmRSS after sequential (MiB) | VmRSS after bursts (MiB) | VmHWM (MiB) | failed scrapes |",
               "|---|---:|---:|---:|---:|"]
        for r in rows:
            out.append("| %s | %.1f | %.1f | %.1f | %d |" % (r["variant"], r["rss_after_sequential_kb"] / 1024,
                                                        r["rss_after_bursts_kb"] / 1024, r["hwm_kb"] / 1024, r["burst_failures"]))
        print("\n".join(out), flush=True)

    def run(self):
        self.tables_created = False
        self.results["machine"] = machine_facts()
        self.results["server_version"] = self.admin.scalar("SELECT version()")
        self.results["max_connections"] = self.admin.scalar("SHOW max_connections")
        self.series_snapshot("empty database, 0 sessions")
        self.run_scenario("empty database")

        self.create_tables(self.args.tables)
        self.tables_created = True
        self.series_snapshot("%d tables, 0 sessions" % self.args.tables)
        states = self.open_sessions(self.args.sessions // 10)
        log("sessions: %s" % states)
        self.series_snapshot("%d tables, %d sessions" % (self.args.tables, self.args.sessions // 10))
        states = self.open_sessions(self.args.sessions)
        log("sessions: %s" % states)
        self.results["session_states"] = states
        self.series_snapshot("%d tables, %d sessions" % (self.args.tables, self.args.sessions))
        self.run_scenario("%d tables, %d sessions" % (self.args.tables, self.args.sessions))
        if self.args.memory_variants:
            self.run_memory_variants()
        self.results["loadavg_end"] = os.getloadavg()
        for s in self.sessions:
            s.close()
        self.admin.close()
        return self.results


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_variant(title, command, dsn, sequential, bursts, burst_size):
    """Starts our exporter with `command`, scrapes it sequentially and in bursts of concurrent
    scrapes, and reads its memory; the process is stopped before returning."""
    port = free_port()
    env = dict(os.environ, DATA_SOURCE_NAME=dsn)
    env.pop("JAVA_OPTS", None)
    proc = subprocess.Popen(command + ["--web.listen-address=127.0.0.1:%d" % port], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        exporter = Exporter(title, title, port, proc.pid, "pg-batch-exporter%")
        deadline = time.time() + 60
        while True:
            try:
                exporter.scrape()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("%s did not start" % title)
                time.sleep(0.2)
        for _ in range(sequential):
            exporter.scrape()
        after_sequential = exporter.memory_kb()
        failures = []

        def one():
            try:
                exporter.scrape()
            except Exception as e:  # counted, reported
                failures.append(repr(e))
        for _ in range(bursts):
            threads = [threading.Thread(target=one) for _ in range(burst_size)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for _ in range(50):
            exporter.scrape()
        end = exporter.memory_kb()
        return {"variant": title, "command": " ".join(command), "rss_after_sequential_kb": after_sequential["VmRSS"],
                "rss_after_bursts_kb": end["VmRSS"], "hwm_kb": end["VmHWM"], "burst_failures": len(failures)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def machine_facts():
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return {"cpus": os.cpu_count(), "cpu_model": models[0] if models else "?", "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": os.uname().release, "loadavg_start": os.getloadavg()}


def log(message):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


def ratio(a, b):
    return a / b if b else float("nan")


def print_scenario(s):
    o, t = s["exporters"]["ours"], s["exporters"]["postgres_exporter"]
    rows = [
        ("scrape p50 (ms)", "p50_ms", "%.1f"), ("scrape p90 (ms)", "p90_ms", "%.1f"), ("scrape p99 (ms)", "p99_ms", "%.1f"),
        ("as Prometheus scrapes: p50 (ms)", "prometheus_p50_ms", "%.1f"),
        ("as Prometheus scrapes: p90 (ms)", "prometheus_p90_ms", "%.1f"),
        ("as Prometheus scrapes: p99 (ms)", "prometheus_p99_ms", "%.1f"),
        ("as Prometheus scrapes: bytes on the wire (gzip)", "prometheus_wire_bytes", "%d"),
        ("queries / scrape", "queries_per_scrape", "%.1f"), ("new connections / scrape", "connections_per_scrape", "%.2f"),
        ("backends held (max)", "most_backends_held", "%d"),
        ("exporter CPU ms / scrape", "exporter_cpu_ms_per_scrape", "%.1f"),
        ("server backend CPU ms / scrape", "backend_cpu_ms_per_scrape", "%.1f"),
        ("server execution ms / scrape (pg_stat_statements)", "server_exec_ms_per_scrape", "%.1f"),
        ("VmRSS after run (MiB)", "rss_end_kb", "mb"), ("VmRSS max sampled (MiB)", "rss_max_sampled_kb", "mb"),
        ("VmHWM peak (MiB)", "hwm_kb", "mb"), ("series", "series", "%d"), ("families", "families", "%d"),
        ("settings families (pg_settings_*)", "settings_families", "%d"),
        ("other PostgreSQL families", "diagnostic_families", "%d"),
    ]
    out = ["", "### %s (%d scrapes each, load %.2f -> %.2f)" % (s["name"], s["scrapes"], s["loadavg_before"][0], s["loadavg_after"][0]),
           "", "| | pg-batch-exporter | postgres_exporter 0.11 | ours / theirs |", "|---|---:|---:|---:|"]
    for title, key, fmt in rows:
        if fmt == "mb":
            a, b = "%.1f" % (o[key] / 1024), "%.1f" % (t[key] / 1024)
        else:
            a, b = fmt % o[key], fmt % t[key]
        out.append("| %s | %s | %s | %.2f |" % (title, a, b, ratio(o[key], t[key])))
    out.append("")
    b = s["between_scrapes"]
    out.append("between scrapes (%.0f s, nobody scraping): role statements %.2f/s, server execution %.2f ms/s; "
               "ours: CPU %.2f ms/s, backends CPU %.2f ms/s, %d sessions; postgres_exporter: CPU %.2f ms/s, "
               "backends CPU %.2f ms/s, %d sessions (per-scrape numbers above are net of these rates)" % (
                   b["seconds"], b["role_statements_per_s"], b["role_exec_ms_per_s"],
                   b["ours"]["exporter_cpu_ms_per_s"], b["ours"]["backend_cpu_ms_per_s"], b["ours"]["backends"],
                   b["postgres_exporter"]["exporter_cpu_ms_per_s"], b["postgres_exporter"]["backend_cpu_ms_per_s"],
                   b["postgres_exporter"]["backends"]))
    out.append("our scrape, p50 ms: " + ", ".join("%s %.1f" % kv for kv in s["ours_breakdown_ms"].items()))
    out.append("our collectors, mean ms per scrape: " + ", ".join(
        "%s %.2f" % (k, v["mean"]) for k, v in s["ours_collector_ms"].items()))
    print("\n".join(out), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--socket-dir", required=True)
    p.add_argument("--pg-port", type=int, required=True)
    p.add_argument("--server-log", required=True)
    p.add_argument("--monitor-role", required=True)
    p.add_argument("--ours-port", type=int, required=True)
    p.add_argument("--ours-pid", type=int, required=True)
    p.add_argument("--theirs-port", type=int, required=True)
    p.add_argument("--theirs-pid", type=int, required=True)
    p.add_argument("--scrapes", type=int, default=200)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--accounting-scrapes", type=int, default=50)
    p.add_argument("--pause", type=float, default=0.05)
    p.add_argument("--background-seconds", type=int, default=10)
    p.add_argument("--tables", type=int, default=2000)
    p.add_argument("--sessions", type=int, default=200)
    p.add_argument("--json", required=True)
    p.add_argument("--memory-variants", action="store_true",
                   help="also start our exporter with JVM defaults and with the launcher (DSN from BENCH_DSN)")
    p.add_argument("--jar")
    p.add_argument("--launcher")
    args = p.parse_args()
    # `timeout` ends the bench with SIGTERM: unwind, so an exporter started here is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = Bench(args).run()
    results["parameters"] = {k: getattr(args, k) for k in ("scrapes", "warmup", "accounting_scrapes", "pause",
                                                           "background_seconds", "tables", "sessions")}
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    log("results written to %s" % args.json)


if __name__ == "__main__":
    main()
