package io.pgbatchtelemetry.exporter.http;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpPrincipal;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

/**
 * Serves the client library's {@link MetricsHandler} gzip-compressed at zlib's fastest level.
 *
 * <p>Prometheus asks for gzip on every scrape, and the client library compresses at zlib's default
 * level 6: for an exposition of our size level 1 costs a fraction of the CPU for a slightly larger
 * body (measured in docs/benchmarks.md). The library chooses gzip by the request's
 * {@code Accept-Encoding}, so the handler sees the request without that header, writes the plain
 * exposition (content negotiation, the name filter, HEAD, errors: all still the library's), and
 * this class compresses what it writes.
 */
final class FastGzipHandler implements HttpHandler {

    private static final String ACCEPT_ENCODING = "Accept-Encoding";

    private final HttpHandler handler;

    private FastGzipHandler(HttpHandler handler) {
        this.handler = handler;
    }

    /** What serves a registry's metrics: the client library's handler, compressed here. */
    static HttpHandler metricsHandler(PrometheusRegistry registry) {
        return new FastGzipHandler(new MetricsHandler(registry));
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        if (!acceptsGzip(exchange.getRequestHeaders().get(ACCEPT_ENCODING))) {
            handler.handle(exchange);
            return;
        }
        try (GzipExchange gzip = new GzipExchange(exchange)) {
            handler.handle(gzip);
        }
    }

    /** Whether an {@code Accept-Encoding} header lists gzip without {@code q=0}. */
    private static boolean acceptsGzip(List<String> acceptEncoding) {
        if (acceptEncoding == null) {
            return false;
        }
        for (String header : acceptEncoding) {
            for (String coding : header.split(",")) {
                String[] parts = coding.split(";");
                if (parts[0].trim().equalsIgnoreCase("gzip") && !refused(parts)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean refused(String[] codingAndParameters) {
        for (int i = 1; i < codingAndParameters.length; i++) {
            String parameter = codingAndParameters[i].trim();
            if (parameter.startsWith("q=")) {
                try {
                    return Double.parseDouble(parameter.substring(2).trim()) == 0;
                } catch (NumberFormatException e) {
                    return false;
                }
            }
        }
        return false;
    }

    /**
     * The exchange as the wrapped handler sees it: no {@code Accept-Encoding} in the request, and a
     * response body that is compressed on its way out (chunked: its length is only known at the end).
     */
    private static final class GzipExchange extends HttpExchange {

        private final HttpExchange exchange;
        private final Headers requestHeaders = new Headers();
        /** The compressing stream once the headers are sent, {@code null} while there is none. */
        private OutputStream body;

        GzipExchange(HttpExchange exchange) {
            this.exchange = exchange;
            exchange.getRequestHeaders().forEach((name, values) -> {
                if (!name.equalsIgnoreCase(ACCEPT_ENCODING)) {
                    requestHeaders.put(name, values);
                }
            });
        }

        @Override
        public void sendResponseHeaders(int code, long length) throws IOException {
            if (length < 0 || exchange.getRequestMethod().equals("HEAD")) {
                exchange.sendResponseHeaders(code, length); // no body to compress
                return;
            }
            exchange.getResponseHeaders().remove("Content-Length"); // the handler's, for the plain body
            exchange.getResponseHeaders().set("Content-Encoding", "gzip");
            exchange.sendResponseHeaders(code, 0);
            body = new GZIPOutputStream(exchange.getResponseBody(), 8192) {
                {
                    def.setLevel(Deflater.BEST_SPEED);
                }
            };
        }

        @Override
        public OutputStream getResponseBody() {
            return body != null ? body : exchange.getResponseBody();
        }

        /** Finishes the gzip stream (its trailer) before the exchange ends; safe to call twice. */
        @Override
        public void close() {
            try {
                if (body != null) {
                    body.close();
                }
            } catch (IOException e) {
                // the client went away; the exchange is closed below either way
            } finally {
                exchange.close();
            }
        }

        @Override
        public Headers getRequestHeaders() {
            return requestHeaders;
        }

        @Override
        public Headers getResponseHeaders() {
            return exchange.getResponseHeaders();
        }

        @Override
        public URI getRequestURI() {
            return exchange.getRequestURI();
        }

        @Override
        public String getRequestMethod() {
            return exchange.getRequestMethod();
        }

        @Override
        public HttpContext getHttpContext() {
            return exchange.getHttpContext();
        }

        @Override
        public InputStream getRequestBody() {
            return exchange.getRequestBody();
        }

        @Override
        public InetSocketAddress getRemoteAddress() {
            return exchange.getRemoteAddress();
        }

        @Override
        public int getResponseCode() {
            return exchange.getResponseCode();
        }

        @Override
        public InetSocketAddress getLocalAddress() {
            return exchange.getLocalAddress();
        }

        @Override
        public String getProtocol() {
            return exchange.getProtocol();
        }

        @Override
        public Object getAttribute(String name) {
            return exchange.getAttribute(name);
        }

        @Override
        public void setAttribute(String name, Object value) {
            exchange.setAttribute(name, value);
        }

        @Override
        public void setStreams(InputStream in, OutputStream out) {
            exchange.setStreams(in, out);
        }

        @Override
        public HttpPrincipal getPrincipal() {
            return exchange.getPrincipal();
        }
    }
}
