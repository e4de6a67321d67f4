package io.pgbatchtelemetry.bench;

import io.pgbatchtelemetry.harness.PostgresCluster;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The telemetry schema's cost ({@code scripts/bench-sql.sh}; docs/telemetry-schema.md#cost) on a harness server of
 * any of 15-18: install.sql installed with psql as users do, then, timed inside the server (milliseconds per call
 * averaged over N calls in one session, and the backend's own CPU from /proc/self/schedstat where the server can read
 * it):
 * <ol>
 * <li>sample() with 200 sessions connected (50 in pg_sleep, 150 idle);</li>
 * <li>snapshot() with 100 tracked tables, in one session and as the first call of a new session (what a pg_cron job
 * pays), then the storage per sample and per snapshot;</li>
 * <li>7 days of synthetic history at the default rates, then compare(), table_compare(), wait_summary(), diagnose()
 * and the deltas view.</li>
 * </ol>
 * Prints one "name value" line per measurement, as the shell version did.
 */
public final class SqlBenchmark {
    static final List<String> OPTIONS = List.of("pg", "database", "sessions");
    /** The backend's CPU time (ns) from /proc/self/schedstat (Linux, superuser). */
    private static final String CPU_NS = "(SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::numeric)";

    private final PostgresCluster pg;
    private final String database;
    private final PrintStream out;
    private String cpuNs = CPU_NS;

    private SqlBenchmark(PostgresCluster pg, String database, PrintStream out) {
        this.pg = pg;
        this.database = database;
        this.out = out;
    }

    public static void main(String[] argv) throws Exception {
        Args args;
        try {
            args = new Args(argv, OPTIONS, List.of()).requireNumbers(List.of("pg", "sessions"), List.of());
        } catch (IllegalArgumentException e) {
            System.err.println("bench-sql: " + e.getMessage());
            System.exit(2);
            return;
        }
        run(args, System.out);
    }

    public static void run(Args args, PrintStream out) throws Exception {
        try (PostgresCluster pg = PostgresCluster.builder(args.integer("pg", 15)).name("bench-sql").setting("shared_buffers", "32MB").build()) {
            pg.start();
            new SqlBenchmark(pg, args.string("database", "telemetry_bench"), out).measure(args.integer("sessions", 200));
        }
    }

    private void measure(int sessions) throws Exception {
        pg.execute("CREATE DATABASE " + database);
        install();
        try (Connection q = pg.connect(database)) {
            try (Statement s = q.createStatement()) {
                s.executeQuery("SELECT " + CPU_NS).close();
            } catch (SQLException e) {
                cpuNs = "NULL::numeric"; // the server cannot read /proc/self: wall time only
            }
            sample(q, sessions);
            snapshot(q);
            storage(q);
            history(q);
        }
    }

    private void install() throws IOException, InterruptedException {
        Path psql = Path.of("/usr/lib/postgresql/15/bin/psql");
        Path installSql = Repo.locate().resolve("sql/install.sql");
        ProcessBuilder builder = new ProcessBuilder(psql.toString(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.host(), "-p",
                Integer.toString(pg.port()), "-U", pg.superuser(), "-d", database, "-f", installSql.toString()).redirectErrorStream(true);
        builder.environment().put("PGPASSWORD", pg.superuserPassword());
        Process p = builder.start();
        String output = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("psql -f " + installSql + " failed: " + output);
        }
    }

    private void sample(Connection q, int sessions) throws Exception {
        List<Connection> open = new ArrayList<>();
        ExecutorService sleepers = Executors.newCachedThreadPool();
        try {
            int active = sessions / 4;
            for (int i = 0; i < sessions; i++) {
                Connection c = pg.connect(database);
                open.add(c);
                if (i < active) {
                    sleepers.submit(() -> {
                        try (Statement s = c.createStatement()) {
                            s.execute("SELECT pg_sleep(120)");
                        } catch (SQLException ended) {
                            // terminated below
                        }
                    });
                }
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (Integer.parseInt(value(q, "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + database
                    + "' AND wait_event = 'PgSleep'")) < active && System.nanoTime() < deadline) {
                ExporterProcess.sleep(200);
            }
            line("sessions_connected", value(q, "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + database + "'"));
            line("sample_ms_" + sessions + "_sessions", timeit(q, "telemetry.sample()", 20));
        } finally {
            try (Statement s = q.createStatement()) {
                s.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" + database
                        + "' AND pid <> pg_backend_pid()");
            }
            for (Connection c : open) {
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // terminated
                }
            }
            sleepers.shutdownNow();
        }
    }

    private void snapshot(Connection q) throws SQLException {
        exec(q, "DO $$ BEGIN FOR i IN 1..100 LOOP "
                + "EXECUTE format('CREATE TABLE bench_t%s (id int PRIMARY KEY, v text)', i); "
                + "EXECUTE format('INSERT INTO bench_t%s SELECT g, ''x'' FROM generate_series(1, 100) g', i); "
                + "PERFORM telemetry.track_table(format('bench_t%s', i)); END LOOP; END $$");
        line("snapshot_ms_100_tables", timeit(q, "telemetry.snapshot()", 20));
        List<double[]> fresh = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            try (Connection c = pg.connect(database)) {
                String[] v = notice(c, "DO $$ DECLARE t0 timestamptz; c0 numeric; BEGIN c0 := " + cpuNs + "; t0 := clock_timestamp(); "
                        + "PERFORM telemetry.snapshot(); RAISE NOTICE '% %', round(extract(epoch FROM clock_timestamp() - t0) * 1000, 2), "
                        + "coalesce(round((" + cpuNs + " - c0) / 1e6, 2)::text, 'n/a'); END $$").split(" ");
                fresh.add(new double[] {Double.parseDouble(v[0]), v[1].equals("n/a") ? Double.NaN : Double.parseDouble(v[1])});
            }
        }
        line("snapshot_ms_100_tables_new_session", median(fresh, 0) + " cpu " + median(fresh, 1));
    }

    private static String median(List<double[]> rows, int column) {
        List<Double> values = rows.stream().map(r -> r[column]).sorted(Comparator.naturalOrder()).toList();
        double m = values.get((values.size() + 1) / 2 - 1);
        return Double.isNaN(m) ? "n/a" : String.format(Locale.ROOT, "%.2f", m);
    }

    private void storage(Connection q) throws SQLException {
        String sampleTables = "telemetry.samples telemetry.sample_waits telemetry.sample_activity telemetry.sample_locks "
                + "telemetry.sample_progress telemetry.sample_replication";
        StringBuilder rows = new StringBuilder("0");
        StringBuilder bytes = new StringBuilder("0");
        for (String t : sampleTables.split(" ")) {
            rows.append(" + (SELECT count(*) FROM ").append(t).append(')');
            bytes.append(" + pg_total_relation_size('").append(t).append("')");
        }
        line("rows_per_sample", value(q, "SELECT round((" + rows + ")::numeric / (SELECT count(*) FROM telemetry.samples), 1)"));
        line("bytes_per_sample", value(q, "SELECT round((" + bytes + ")::numeric / (SELECT count(*) FROM telemetry.samples))"));
        line("rows_per_snapshot_100_tables", value(q, "SELECT round(((SELECT count(*) FROM telemetry.snapshots) + (SELECT count(*) "
                + "FROM telemetry.snapshot_tables))::numeric / (SELECT count(*) FROM telemetry.snapshots), 1)"));
        line("bytes_per_snapshot_100_tables", value(q, "SELECT round((pg_total_relation_size('telemetry.snapshots') + "
                + "pg_total_relation_size('telemetry.snapshot_tables'))::numeric / (SELECT count(*) FROM telemetry.snapshots))"));
    }

    /** 7 days of history at the default rates: copies of the collected rows, shifted in time. */
    private void history(Connection q) throws SQLException {
        exec(q, "SELECT telemetry.untrack_table(format('bench_t%s', i)) FROM generate_series(11, 100) i");
        exec(q, "INSERT INTO telemetry.snapshots OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(NULL::telemetry.snapshots, "
                + "to_jsonb(s) || jsonb_build_object('id', nextval(pg_get_serial_sequence('telemetry.snapshots', 'id')), "
                + "'captured_at', now() - g * interval '5 minutes'))).* "
                + "FROM (SELECT * FROM telemetry.snapshots ORDER BY id DESC LIMIT 1) s, generate_series(1, 2016) g");
        exec(q, "INSERT INTO telemetry.snapshot_tables SELECT s.id, t.relid, t.schemaname, t.relname, t.partitions, t.total_bytes, t.size_exact, "
                + "t.n_live_tup, t.n_dead_tup, t.n_tup_ins, t.n_tup_upd, t.n_tup_del, t.n_tup_hot_upd, t.seq_scan, t.idx_scan, "
                + "t.vacuum_count, t.autovacuum_count, t.analyze_count, t.autoanalyze_count, NULL, NULL, NULL, NULL, NULL "
                + "FROM telemetry.snapshots s CROSS JOIN (SELECT DISTINCT ON (relid) * FROM telemetry.snapshot_tables "
                + "WHERE relid IN (SELECT relid FROM telemetry.tracked_tables) ORDER BY relid, snapshot_id DESC) t "
                + "WHERE s.captured_at < now() - interval '1 minute' AND NOT EXISTS "
                + "(SELECT 1 FROM telemetry.snapshot_tables x WHERE x.snapshot_id = s.id)");
        exec(q, "INSERT INTO telemetry.samples (captured_at, active_sessions, idle_in_xact, blocked_sessions, total_backends) "
                + "SELECT now() - g * interval '30 seconds', 5, 0, 0, 12 FROM generate_series(1, 20160) g");
        exec(q, "INSERT INTO telemetry.sample_waits SELECT s.id, 'client backend', w.t, w.e, 1 FROM telemetry.samples s, "
                + "(VALUES ('CPU', 'CPU'), ('IO', 'DataFileRead'), ('LWLock', 'WALWrite'), ('Lock', 'transactionid')) w(t, e) "
                + "WHERE s.captured_at < now() - interval '1 minute'");
        exec(q, "INSERT INTO telemetry.sample_activity (sample_id, pid, usename, application_name, backend_type, state, query_start, query_preview) "
                + "SELECT s.id, 1000 + k, 'app', 'batch', 'client backend', 'active', s.captured_at - interval '1 minute', 'UPDATE orders SET ...' "
                + "FROM telemetry.samples s, generate_series(1, 5) k WHERE s.captured_at < now() - interval '1 minute'");
        exec(q, "ANALYZE");
        out.println("history_snapshots " + value(q, "SELECT count(*) FROM telemetry.snapshots") + " history_samples "
                + value(q, "SELECT count(*) FROM telemetry.samples"));
        String hour = "now() - interval '26 hours', now() - interval '25 hours'";
        line("compare_ms_1h_window", timeit(q, "(SELECT count(*) FROM telemetry.compare(" + hour + "))", 20));
        line("compare_ms_7d_window", timeit(q, "(SELECT count(*) FROM telemetry.compare(now() - interval '7 days', now() - interval '10 minutes'))", 20));
        line("table_compare_ms_1h_window", timeit(q, "(SELECT count(*) FROM telemetry.table_compare('bench_t1', " + hour + "))", 20));
        line("wait_summary_ms_1h_window", timeit(q, "(SELECT count(*) FROM telemetry.wait_summary(" + hour + "))", 20));
        line("diagnose_ms_1h_window", timeit(q, "(SELECT count(*) FROM telemetry.diagnose(" + hour + "))", 10));
        line("deltas_view_ms_7d", timeit(q, "(SELECT count(*) FROM telemetry.deltas)", 3));
        line("schema_bytes_7d", value(q, "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                + "WHERE c.relnamespace = 'telemetry'::regnamespace AND c.relkind = 'r'"));
    }

    /** Average milliseconds of n calls, timed inside the server, then "cpu" and the backend's CPU ms per call. */
    private String timeit(Connection q, String expression, int n) throws SQLException {
        return notice(q, "DO $$ DECLARE t0 timestamptz; c0 numeric; n int := " + n + "; BEGIN c0 := " + cpuNs + "; t0 := clock_timestamp(); "
                + "FOR i IN 1..n LOOP PERFORM " + expression + "; END LOOP; "
                + "RAISE NOTICE 'pgbt-timing % cpu %', round(extract(epoch FROM clock_timestamp() - t0) * 1000 / n, 2), "
                + "coalesce(round((" + cpuNs + " - c0) / 1e6 / n, 2)::text, 'n/a'); END $$").replace("pgbt-timing ", "");
    }

    /** Runs a DO block and returns the text of its last NOTICE that the block raised for the timing. */
    private static String notice(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
            String last = null;
            for (SQLWarning w = s.getWarnings(); w != null; w = w.getNextWarning()) {
                if (w.getMessage().matches("^(pgbt-timing )?[0-9.]+ .*")) {
                    last = w.getMessage();
                }
            }
            if (last == null) {
                throw new IllegalStateException("no timing notice from: " + sql);
            }
            return last;
        }
    }

    private static String value(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            return r.next() ? r.getString(1) : null;
        }
    }

    private static void exec(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private void line(String name, String value) {
        out.println(name + " " + value);
    }
}
