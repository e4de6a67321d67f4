package io.pgbatchtelemetry.exporter.http;

import com.sun.net.httpserver.Authenticator;
import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;

/**
 * Serves the telemetry path (Prometheus text or OpenMetrics, chosen by the Accept header, by the
 * client library's {@link MetricsHandler}, gzip-compressed by {@link FastGzipHandler}), a liveness
 * endpoint and a landing page.
 *
 * <p>The JDK server is used directly rather than the client's {@code HTTPServer} so that the
 * telemetry path is configurable like postgres_exporter's {@code --web.telemetry-path}.
 * No request parameter reaches the database: the connection is fixed by configuration.
 *
 * <p>With {@code web.tls} it serves HTTPS only (TLS 1.2 and 1.3, from PEM files, see
 * {@link PemTlsContext}); with {@code web.basic-auth} every path answers 401 without the configured
 * credentials (see {@link BasicAuthCheck}).
 */
public final class MetricsHttpServer implements AutoCloseable {

    public static final String HEALTH_PATH = "/-/healthy";
    private static final String NO_DELAY_PROPERTY = "sun.net.httpserver.nodelay";

    static {
        // The JDK server writes a response's headers and its body separately, with Nagle's algorithm on:
        // when a request follows the previous one on the same kept-alive connection within the client's
        // delayed-ACK window (~40 ms on Linux: a client polling in a loop, not Prometheus' intervals),
        // the body waits for the ACK of the headers, ~40 ms per request. TCP_NODELAY sends it at once
        // (Go's servers, postgres_exporter's included, set it by default). The JDK reads this property
        // once, when its first server is created; a value the user set with -D wins.
        System.getProperties().putIfAbsent(NO_DELAY_PROPERTY, "true");
    }
    private static final int HTTP_THREADS = 8;
    private static final int THREADS_PER_TARGET = 4;
    private static final int MAX_HTTP_THREADS = 64;
    static final String TEXT = "text/plain; charset=utf-8";
    private static final int BACKLOG = 64;

    private final HttpServer server;
    private final ExecutorService executor;
    private final List<HttpContext> contexts = new ArrayList<>();
    private final AtomicInteger inFlight = new AtomicInteger();

    public MetricsHttpServer(ExporterSettings.Web web, PrometheusRegistry registry, String version) throws IOException {
        this(web, registry, Map.of(), version);
    }

    /**
     * @param registry  what {@code /metrics} serves, or {@code null} for a probe-only exporter
     * @param probes    what {@code /probe?target=NAME} serves, by target name
     */
    public MetricsHttpServer(ExporterSettings.Web web, PrometheusRegistry registry, Map<String, PrometheusRegistry> probes,
                             String version) throws IOException {
        InetSocketAddress address = web.host() == null || web.host().isEmpty()
                ? new InetSocketAddress(web.port())
                : new InetSocketAddress(web.host(), web.port());
        HttpServerLimits.apply(web.limits());
        server = create(web, address);
        AtomicInteger threads = new AtomicInteger();
        // a request waits for its server's scrape (at most that target's deadline): a few threads per
        // target, so that requests for a stalled target can't take every thread from the others
        int httpThreads = Math.min(MAX_HTTP_THREADS, Math.max(HTTP_THREADS, THREADS_PER_TARGET * (probes.size() + 1)));
        executor = Executors.newFixedThreadPool(httpThreads, r -> {
            Thread thread = new Thread(r, "http-" + threads.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        });
        server.setExecutor(executor);
        Authenticator authenticator = web.basicAuth().enabled() ? new BasicAuthCheck(web.basicAuth()) : null;
        List<String> targetNames = List.copyOf(probes.keySet());
        if (registry != null) {
            contexts.add(server.createContext(web.telemetryPath(), FastGzipHandler.metricsHandler(registry)));
        } else {
            contexts.add(server.createContext(web.telemetryPath(), exchange -> respond(exchange, 404, TEXT,
                    "No data-source.url is configured, so " + web.telemetryPath() + " scrapes no server.\n"
                            + "Scrape " + ProbeHandler.PATH + "?target=NAME with NAME one of " + targetNames + ".\n")));
        }
        contexts.add(server.createContext(ProbeHandler.PATH, new ProbeHandler(probes)));
        contexts.add(server.createContext(HEALTH_PATH, exchange -> respond(exchange, 200, TEXT, "Exporter is healthy.\n")));
        String landing = landingPage(web.telemetryPath(), targetNames, version);
        contexts.add(server.createContext("/", exchange -> {
            if (exchange.getRequestURI().getPath().equals("/")) {
                respond(exchange, 200, "text/html; charset=utf-8", landing);
            } else {
                respond(exchange, 404, TEXT, "Not found. Metrics are at " + web.telemetryPath() + "\n");
            }
        }));
        // every path, health and landing page included, as Prometheus' web-config does: an open
        // path on a port that is otherwise protected is one more thing to audit
        if (authenticator != null) {
            contexts.forEach(context -> context.setAuthenticator(authenticator));
        }
        Filter counting = new Filter() {
            @Override
            public void doFilter(HttpExchange exchange, Chain chain) throws IOException {
                inFlight.incrementAndGet();
                try {
                    chain.doFilter(exchange);
                } finally {
                    inFlight.decrementAndGet();
                }
            }

            @Override
            public String description() {
                return "counts requests in flight for a graceful stop";
            }
        };
        contexts.forEach(context -> context.getFilters().add(counting));
    }

    /** HTTPS with TLS 1.2 or 1.3 when {@code web.tls} is set, plain HTTP otherwise. */
    private static HttpServer create(ExporterSettings.Web web, InetSocketAddress address) throws IOException {
        if (!web.tls().enabled()) {
            return HttpServer.create(address, BACKLOG);
        }
        SSLContext context = PemTlsContext.create(web.tls());
        HttpsServer https = HttpsServer.create(address, BACKLOG);
        https.setHttpsConfigurator(new HttpsConfigurator(context) {
            @Override
            public void configure(HttpsParameters params) {
                SSLParameters parameters = context.getDefaultSSLParameters();
                parameters.setProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
                params.setSSLParameters(parameters);
            }
        });
        return https;
    }

    public void start() {
        server.start();
    }

    /** The port actually bound (useful when configured with port 0). */
    public int port() {
        return server.getAddress().getPort();
    }

    private static String landingPage(String telemetryPath, List<String> targets, String version) {
        StringBuilder probes = new StringBuilder();
        for (String target : targets) {
            probes.append("<li><a href=\"").append(ProbeHandler.PATH).append("?target=").append(escape(target))
                    .append("\">Probe ").append(escape(target)).append("</a></li>\n");
        }
        return """
                <!DOCTYPE html>
                <html><head><meta charset="utf-8"><title>pg-batch-exporter</title></head>
                <body>
                <h1>pg-batch-exporter %s</h1>
                <p>PostgreSQL metrics for diagnosing slow batch jobs.</p>
                <ul>
                <li><a href="%s">Metrics</a></li>
                %s<li><a href="%s">Health</a></li>
                </ul>
                </body></html>
                """.formatted(escape(version), escape(telemetryPath), probes, HEALTH_PATH);
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    static void respond(HttpExchange exchange, int status, String contentType, String body) throws IOException {
        try (exchange) {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", contentType);
            if (exchange.getRequestMethod().equals("HEAD")) {
                exchange.sendResponseHeaders(status, -1);
                return;
            }
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    /**
     * Stops accepting requests and gives the scrapes in flight up to {@code graceSeconds} to finish.
     * The JDK 17 server waits the whole delay unless an exchange completes during it, so an idle
     * server is stopped at once instead of sitting out the grace period.
     */
    public void stop(int graceSeconds) {
        server.stop(inFlight.get() == 0 ? 0 : graceSeconds);
        executor.shutdown();
        try {
            executor.awaitTermination(graceSeconds, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        stop(1);
    }
}
