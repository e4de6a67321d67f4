package io.pgbatchtelemetry.bench;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The measuring client scrapes the two ways the benchmark reports: on a new TCP connection per scrape (text format,
 * no compression), and as Prometheus does (one kept-alive connection, Prometheus' Accept header, gzip). Checked
 * against a loopback HTTP server that records each request's client port and headers.
 */
class ScraperTest {
    private static final String BODY = "# TYPE pg_up gauge\npg_up 1\n";

    private record Seen(int clientPort, String accept, String acceptEncoding) {
    }

    private final List<Seen> seen = new CopyOnWriteArrayList<>();
    private HttpServer server;

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/metrics", exchange -> {
            String accept = exchange.getRequestHeaders().getFirst("Accept");
            String encoding = exchange.getRequestHeaders().getFirst("Accept-Encoding");
            seen.add(new Seen(exchange.getRemoteAddress().getPort(), accept, encoding));
            byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
            if ("gzip".equals(encoding)) {
                ByteArrayOutputStream zipped = new ByteArrayOutputStream();
                try (GZIPOutputStream gzip = new GZIPOutputStream(zipped)) {
                    gzip.write(body);
                }
                body = zipped.toByteArray();
                exchange.getResponseHeaders().set("Content-Encoding", "gzip");
            }
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    @Test
    void freshScrapesUseANewConnectionEachAndTheTextFormat() {
        Scraper scraper = new Scraper("test", server.getAddress().getPort());
        for (int i = 0; i < 3; i++) {
            Scraper.Scrape scrape = scraper.fresh();
            assertEquals(BODY, scrape.body());
            assertEquals(BODY.length(), scrape.wireBytes());
        }
        assertEquals(3, seen.stream().map(Seen::clientPort).distinct().count(), "one TCP connection per scrape: " + seen);
        assertTrue(seen.stream().allMatch(s -> s.accept().equals("text/plain;version=0.0.4") && s.acceptEncoding() == null), seen.toString());
    }

    @Test
    void prometheusScrapesKeepOneConnectionAskForOpenMetricsAndGzip() {
        Scraper scraper = new Scraper("test", server.getAddress().getPort());
        for (int i = 0; i < 3; i++) {
            Scraper.Scrape scrape = scraper.asPrometheus();
            assertEquals(BODY, scrape.body(), "decompressed");
            assertTrue(scrape.wireBytes() != BODY.length(), "the bytes on the wire are the gzip stream's");
        }
        assertEquals(1, seen.stream().map(Seen::clientPort).distinct().count(), "one kept-alive connection: " + seen);
        assertTrue(seen.stream().allMatch(s -> s.accept().equals(Scraper.PROMETHEUS_ACCEPT) && "gzip".equals(s.acceptEncoding())),
                seen.toString());
    }
}
