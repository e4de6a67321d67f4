package io.pgbatchtelemetry.exporter.http;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code /probe?target=NAME}: Prometheus' multi-target pattern, where NAME must be one of the
 * targets in the exporter's configuration.
 *
 * <p>The URL only ever chooses among configured servers. A connection string in {@code target}
 * is an unknown name like any other: accepting one would let anyone who can reach the port make
 * the exporter connect anywhere with whatever credentials it holds (postgres_exporter's
 * {@code /probe} takes a DSN, which is why it needs auth modules). The requested value is never
 * echoed or logged, since it may be a connection string with a password in it.
 */
final class ProbeHandler implements HttpHandler {

    static final String PATH = "/probe";

    private final Map<String, HttpHandler> handlers = new TreeMap<>();

    ProbeHandler(Map<String, PrometheusRegistry> registries) {
        registries.forEach((name, registry) -> handlers.put(name, FastGzipHandler.metricsHandler(registry)));
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        if (!exchange.getRequestURI().getPath().equals(PATH)) {
            MetricsHttpServer.respond(exchange, 404, MetricsHttpServer.TEXT, "Not found.\n");
            return;
        }
        List<String> known = List.copyOf(handlers.keySet());
        if (known.isEmpty()) {
            MetricsHttpServer.respond(exchange, 404, MetricsHttpServer.TEXT,
                    "No targets are configured: add targets { NAME { url = ... } } to the exporter's configuration.\n");
            return;
        }
        String target = parameter(exchange.getRequestURI().getRawQuery(), "target");
        if (target == null || target.isEmpty()) {
            MetricsHttpServer.respond(exchange, 400, MetricsHttpServer.TEXT,
                    "Missing parameter: " + PATH + "?target=NAME with NAME one of " + known + ".\n");
            return;
        }
        HttpHandler handler = handlers.get(target);
        if (handler == null) {
            MetricsHttpServer.respond(exchange, 404, MetricsHttpServer.TEXT, "Unknown target. Configured targets: " + known
                    + ". A target is a name from the exporter's configuration, never a connection string.\n");
            return;
        }
        handler.handle(exchange);
    }

    /** The first value of {@code name} in a raw query string, decoded; null when absent or malformed. */
    private static String parameter(String rawQuery, String name) {
        if (rawQuery == null) {
            return null;
        }
        for (String pair : rawQuery.split("&")) {
            int eq = pair.indexOf('=');
            String key = eq >= 0 ? pair.substring(0, eq) : pair;
            if (key.equals(name)) {
                try {
                    return URLDecoder.decode(eq >= 0 ? pair.substring(eq + 1) : "", StandardCharsets.UTF_8);
                } catch (IllegalArgumentException malformed) {
                    return null;
                }
            }
        }
        return null;
    }
}
