package io.pgbatchtelemetry.exporter.config;

import java.time.Duration;
import java.util.Map;
import java.util.Set;

/**
 * Everything the exporter was configured with, validated and immutable.
 *
 * @param dataSource  where and how to connect for {@code /metrics}; {@code null} only when
 *                    {@code data-source.url} is empty and targets are configured (probe-only exporter)
 * @param web         where to serve metrics
 * @param scrape      deadlines and pool size
 * @param collectors  names of the collectors switched on
 * @param targets     servers for {@code /probe?target=NAME}, by name, in name order
 */
public record ExporterSettings(DataSource dataSource, Web web, Scrape scrape, Set<String> collectors,
                               Map<String, Target> targets) {

    public ExporterSettings {
        collectors = Set.copyOf(collectors);
        targets = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(targets));
    }

    /** One server, no probe targets. */
    public ExporterSettings(DataSource dataSource, Web web, Scrape scrape, Set<String> collectors) {
        this(dataSource, web, scrape, collectors, Map.of());
    }

    /** Whether {@code /metrics} scrapes a server (false for a probe-only exporter). */
    public boolean hasDefaultTarget() {
        return dataSource != null;
    }

    /**
     * A server scraped through {@code /probe?target=name}, with its own pool and deadlines, so
     * that a slow or dead server never holds up another.
     */
    public record Target(String name, DataSource dataSource, Scrape scrape) {}

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

    /**
     * @param host       {@code null} or empty to listen on every interface
     * @param tls        HTTPS when enabled, plain HTTP otherwise
     * @param basicAuth  when enabled, every path needs these credentials
     */
    public record Web(String host, int port, String telemetryPath, Tls tls, BasicAuth basicAuth) {
        /** Plain HTTP without authentication. */
        public Web(String host, int port, String telemetryPath) {
            this(host, port, telemetryPath, Tls.OFF, BasicAuth.OFF);
        }
    }

    /** PEM certificate chain and private key files; both empty for plain HTTP. */
    public record Tls(String certFile, String keyFile) {
        public static final Tls OFF = new Tls("", "");

        public boolean enabled() {
            return !certFile.isEmpty();
        }
    }

    /**
     * One user for HTTP basic authentication. Exactly one of {@code passwordHash} (bcrypt) and
     * {@code password} (read from a file) is set; {@code toString} masks both.
     */
    public record BasicAuth(String username, String passwordHash, String password) {
        public static final BasicAuth OFF = new BasicAuth("", "", "");

        public boolean enabled() {
            return !username.isEmpty();
        }

        @Override
        public String toString() {
            return "BasicAuth[username=" + username + ", passwordHash=" + (passwordHash.isEmpty() ? "" : "***")
                    + ", password=" + (password.isEmpty() ? "" : "***") + "]";
        }
    }

    public record Scrape(Duration timeout, Duration statementTimeout, Duration lockTimeout, int poolSize) {}
}
