package io.pgbatchtelemetry.exporter.config;

import io.pgbatchtelemetry.exporter.collector.CollectorOptions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Everything the exporter was configured with, validated and immutable.
 *
 * @param dataSource  where and how to connect for {@code /metrics}; {@code null} only when
 *                    {@code data-source.url} is empty and targets are configured (probe-only exporter)
 * @param web         where to serve metrics
 * @param scrape      deadlines and pool size
 * @param collectors  names of the collectors switched on
 * @param collectorOptions how stale the collectors' slow reads may be
 * @param sampler     the background wait-event sampler
 * @param batches     rules naming batch jobs, in config order (the first rule a session matches wins)
 * @param targets     servers for {@code /probe?target=NAME}, by name, in name order
 */
public record ExporterSettings(DataSource dataSource, Web web, Scrape scrape, Set<String> collectors,
                               CollectorOptions collectorOptions, Sampler sampler, List<BatchRule> batches, Map<String, Target> targets) {

    public ExporterSettings {
        collectors = Set.copyOf(collectors);
        batches = List.copyOf(batches);
        targets = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(targets));
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
     * @param limits     how long a client may take, and how many idle connections are kept
     */
    public record Web(String host, int port, String telemetryPath, Tls tls, BasicAuth basicAuth, HttpLimits limits) {}

    /**
     * Bounds against slow and idle clients (whole seconds: the JDK server counts in seconds).
     *
     * @param requestTimeout      from a request's first byte to the end of its headers, TLS handshake included
     * @param responseTimeout     from the end of the request to the last byte of the answer, scrape included
     * @param idleTimeout         a kept-alive connection without a request is closed after this
     * @param maxIdleConnections  kept-alive connections kept open at most; more are closed after their answer
     */
    public record HttpLimits(Duration requestTimeout, Duration responseTimeout, Duration idleTimeout, int maxIdleConnections) {}

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

    /**
     * @param interval   time between two samples of pg_stat_activity
     * @param maxSeries  most label sets any one sampler metric may have; the rest is folded into "other"
     */
    public record Sampler(boolean enabled, Duration interval, int maxSeries) {}

    /**
     * Names a batch job by the sessions it runs: every condition given must hold, a {@code null}
     * condition matches anything (at least one is given; the loader checks).
     *
     * @param name             the {@code batch} label value
     * @param applicationName  found anywhere in application_name ({@link java.util.regex.Matcher#find()};
     *                         anchor with ^ and $ to match the whole name), or null
     * @param user             exact role name (pg_stat_activity.usename), or null
     * @param database         exact database name (pg_stat_activity.datname), or null
     */
    public record BatchRule(String name, Pattern applicationName, String user, String database) {

        /**
         * Values {@code blocker_class} uses for things that are not batches ("other" and the one-word
         * PostgreSQL backend types): a batch can't take them, so a blocker class is never ambiguous.
         */
        public static final Set<String> RESERVED_NAMES = Set.of("other", "checkpointer", "archiver", "startup",
                "walreceiver", "walsender", "walwriter", "walsummarizer");

        public boolean matches(String sessionApplicationName, String sessionUser, String sessionDatabase) {
            return (applicationName == null || (sessionApplicationName != null && applicationName.matcher(sessionApplicationName).find()))
                    && (user == null || user.equals(sessionUser))
                    && (database == null || database.equals(sessionDatabase));
        }

        @Override
        public String toString() {
            return "BatchRule[name=" + name + ", application-name=" + (applicationName == null ? "" : applicationName.pattern())
                    + ", user=" + (user == null ? "" : user) + ", database=" + (database == null ? "" : database) + "]";
        }
    }
}
