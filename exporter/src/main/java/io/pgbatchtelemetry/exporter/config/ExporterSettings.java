package io.pgbatchtelemetry.exporter.config;

import java.time.Duration;
import java.util.Set;

/**
 * Everything the exporter was configured with, validated and immutable.
 *
 * @param dataSource  where and how to connect
 * @param web         where to serve metrics
 * @param scrape      deadlines and pool size
 * @param collectors  names of the collectors switched on
 */
public record ExporterSettings(DataSource dataSource, Web web, Scrape scrape, Set<String> collectors) {

    public ExporterSettings {
        collectors = Set.copyOf(collectors);
    }

    /**
     * A PostgreSQL connection. {@code toString} masks the password so that a settings object
     * can never leak it into a log line or an exception message.
     */
    public record DataSource(String jdbcUrl, String user, String password, String applicationName,
                             Duration connectTimeout) {
        @Override
        public String toString() {
            return "DataSource[jdbcUrl=" + jdbcUrl + ", user=" + user
                    + ", password=" + (password.isEmpty() ? "" : "***")
                    + ", applicationName=" + applicationName + ", connectTimeout=" + connectTimeout + "]";
        }
    }

    /** @param host {@code null} or empty to listen on every interface */
    public record Web(String host, int port, String telemetryPath) {}

    public record Scrape(Duration timeout, Duration statementTimeout, Duration lockTimeout, int poolSize) {}
}
