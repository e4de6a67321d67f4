package io.pgbatchtelemetry.exporter.http;

import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import java.util.Map;
import java.util.Properties;

/**
 * Hands {@code web.request-timeout} and its siblings to the JDK HTTP server, whose only knobs are
 * system properties ({@code sun.net.httpserver.*}, JDK 17.0.15 and later 17 updates) read once,
 * when its implementation class is first loaded.
 *
 * <p>Why it matters: the JDK server reads a request's line and headers (and, with TLS, does the
 * handshake) on one of its few worker threads, with no time limit by default, so a handful of
 * clients sending one header line every few seconds held every thread and no scrape was answered.
 * With {@code maxReqTime} its timer closes a connection whose request is not complete in time,
 * which frees the thread; a connection that never sends a byte is closed after the same time
 * ({@code min(idleInterval, maxReqTime)}), checked every {@value #IDLE_CHECK_MILLIS} ms instead of
 * the default 10 s. {@code maxRspTime} bounds a client that does not read its answer.
 *
 * <p>The properties are JVM-wide: the first server of a JVM fixes them (the exporter has one), and
 * a value given with {@code -D} is left alone, so an operator can still override the JDK directly.
 * A limit on connections ({@code jdk.httpserver.maxConnections}) is deliberately not set: once
 * reached, the JDK closes every new connection at once, which would turn a flood of idle
 * connections into the outage it is meant to prevent; idle ones are closed after request-timeout.
 */
final class HttpServerLimits {

    /** How often connections that never sent a byte, or sit idle, are looked at (JDK default 10 s). */
    static final int IDLE_CHECK_MILLIS = 1_000;
    /** Request headers a scraper sends: a handful (JDK default 200). */
    static final int MAX_REQUEST_HEADERS = 64;
    /** Bytes of request line and headers at most (JDK default 384 KiB); a basic-auth header fits many times. */
    static final int MAX_REQUEST_HEADER_BYTES = 16 * 1024;

    private HttpServerLimits() {}

    /** Sets the properties unless already set; call before the first server is created. */
    static void apply(ExporterSettings.HttpLimits limits) {
        Properties system = System.getProperties();
        Map.of("sun.net.httpserver.maxReqTime", Long.toString(limits.requestTimeout().toSeconds()),
                "sun.net.httpserver.maxRspTime", Long.toString(limits.responseTimeout().toSeconds()),
                "sun.net.httpserver.idleInterval", Long.toString(limits.idleTimeout().toSeconds()),
                "sun.net.httpserver.maxIdleConnections", Integer.toString(limits.maxIdleConnections()),
                "sun.net.httpserver.clockTick", Integer.toString(IDLE_CHECK_MILLIS),
                "sun.net.httpserver.maxReqHeaders", Integer.toString(MAX_REQUEST_HEADERS),
                "sun.net.httpserver.maxReqHeaderSize", Integer.toString(MAX_REQUEST_HEADER_BYTES))
                .forEach(system::putIfAbsent);
    }
}
