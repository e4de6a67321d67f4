package io.pgbatchtelemetry.exporter.sampler;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the sampler's tick into the telemetry schema while a batch run is open, so the schema's
 * own evidence ({@code diagnose(run)}) sees every wait of a second or more inside a run, also
 * where pg_cron has no second schedules (pg_cron before 1.5, e.g. Debian's 1.4) or no pg_cron at all.
 *
 * <p>The sample itself is the schema's: {@code telemetry.sample_open_runs('exporter', interval)}
 * returns at once when no run is open, and otherwise calls the same {@code telemetry._sample()} that
 * pg_cron and {@code batch_start()} use (one definition of a sample, tagged with its source and
 * interval so {@code diagnose()} can state its coverage). Mapping the exporter's own rows into the
 * schema's tables would define a sample twice.
 *
 * <p>Opt-in by privilege: it runs only when the exporter's role may execute that function
 * ({@code GRANT telemetry_writer TO pgbt_monitor}); with pg_monitor alone the exporter stays
 * read-only and this class does nothing but one catalog check per connection. A failure here is
 * logged once and never disturbs the wait-event counters. Versions: the same on PostgreSQL 15-18.
 */
final class OpenRunSampling {

    private static final Logger LOG = LoggerFactory.getLogger(OpenRunSampling.class);

    static final String SOURCE = "exporter";

    private static final String PROBE = """
            SELECT p IS NOT NULL AND has_function_privilege(p, 'EXECUTE')
              FROM to_regprocedure('telemetry.sample_open_runs(text,numeric)') p""";
    private static final String SAMPLE = "SELECT telemetry.sample_open_runs(?, ?)";

    private final BigDecimal intervalSeconds;
    private Connection checked;
    private boolean allowed;
    private boolean failing;

    OpenRunSampling(Duration interval) {
        this.intervalSeconds = BigDecimal.valueOf(interval.toMillis()).movePointLeft(3);
    }

    /** After a wait-event sample on {@code connection}: one telemetry sample if a run is open and the role may write it. */
    void afterSample(Connection connection) {
        try {
            if (connection != checked) {
                allowed = probe(connection);
                checked = connection;
            }
            if (!allowed) {
                return;
            }
            try (PreparedStatement statement = connection.prepareStatement(SAMPLE)) {
                statement.setString(1, SOURCE);
                statement.setBigDecimal(2, intervalSeconds);
                statement.execute();
            }
            if (failing) {
                LOG.info("samples of open batch runs are written to the telemetry schema again");
                failing = false;
            }
        } catch (SQLException e) {
            if (!failing) {
                LOG.warn("could not write a sample of open batch runs to the telemetry schema (the wait-event counters are unaffected): "
                        + "SQLSTATE {}: {}", e.getSQLState(), firstLine(e.getMessage()));
                failing = true;
            }
        }
    }

    private boolean probe(Connection connection) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(PROBE); ResultSet rs = statement.executeQuery()) {
            boolean may = rs.next() && rs.getBoolean(1);
            if (may) {
                LOG.info("writing a sample every {} s into the telemetry schema while a batch run is open "
                        + "(this role may execute telemetry.sample_open_runs)", intervalSeconds.toPlainString());
            }
            return may;
        }
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "";
        }
        int newline = message.indexOf('\n');
        return newline >= 0 ? message.substring(0, newline) : message;
    }
}
