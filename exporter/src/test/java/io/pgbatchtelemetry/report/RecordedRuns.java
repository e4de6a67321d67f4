package io.pgbatchtelemetry.report;

import io.pgbatchtelemetry.exporter.it.ExporterTestSupport;
import io.pgbatchtelemetry.exporter.it.TelemetryTestDb;
import io.pgbatchtelemetry.harness.PostgresCluster;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What a report scenario leaves for the tests: {@link #NORMAL_RUNS} normal runs of a batch and one slow run in a
 * database with the telemetry schema, and how the report command connects to it. The set-up every scenario shares
 * is here ({@link #setUp}, {@link #normalRuns}); what a scenario's batch does, on which cluster, and what changes
 * before its slow run stay in the scenario ({@link SlowRunScenario}, {@link StatementRunScenario}).
 */
record RecordedRuns(PostgresCluster cluster, String database, List<Long> normalRuns, long slowRun) {

    /** As many as a run's baseline takes by default (config baseline_runs). */
    static final int NORMAL_RUNS = 5;

    RecordedRuns {
        normalRuns = List.copyOf(normalRuns);
    }

    /** One run of the scenario's batch; returns its run id. */
    @FunctionalInterface
    interface BatchRun {
        long run() throws Exception;
    }

    /** Creates the monitoring role (pg_monitor) and {@code database} with the schema installed, then runs {@code sql} there. */
    static void setUp(PostgresCluster cluster, String database, String... sql) throws Exception {
        ExporterTestSupport.createMonitoringRole(cluster);
        TelemetryTestDb.install(cluster, database);
        TelemetryTestDb.exec(cluster, database, sql);
    }

    /** {@link #NORMAL_RUNS} runs, one after the other; their run ids. */
    static List<Long> normalRuns(BatchRun run) throws Exception {
        List<Long> runs = new ArrayList<>();
        for (int i = 0; i < NORMAL_RUNS; i++) {
            runs.add(run.run());
        }
        return runs;
    }

    /** DATA_SOURCE_NAME for the monitoring role (pg_monitor, which reads every role's statement texts): the report needs no more. */
    Map<String, String> monitorEnvironment() {
        return environment(ExporterTestSupport.MONITOR_USER, ExporterTestSupport.MONITOR_PASSWORD);
    }

    /** DATA_SOURCE_NAME for another role of the scenario's. */
    Map<String, String> environment(String user, String password) {
        return Map.of("DATA_SOURCE_NAME", "postgresql://" + user + ":" + password + "@" + cluster.host() + ":" + cluster.port()
                + "/" + database + "?sslmode=disable");
    }

    /** The queryid pg_stat_statements gives {@code text} in the scenario's database. */
    long queryid(String text) throws SQLException {
        try (Connection c = cluster.connect(database);
             PreparedStatement s = c.prepareStatement("SELECT queryid FROM pg_stat_statements WHERE query = ? "
                     + "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")) {
            s.setString(1, text);
            try (ResultSet rs = s.executeQuery()) {
                if (!rs.next()) {
                    throw new AssertionError("pg_stat_statements has no entry for " + text);
                }
                return rs.getLong(1);
            }
        }
    }

    /** The first column of the first row of {@code sql}, e.g. the run id batch_start() returns. */
    static long longValue(Statement statement, String sql) throws SQLException {
        try (ResultSet rs = statement.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
