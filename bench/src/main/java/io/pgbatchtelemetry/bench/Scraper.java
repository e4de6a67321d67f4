package io.pgbatchtelemetry.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.zip.GZIPInputStream;

/**
 * Scrapes one exporter with {@link HttpClient} in the two ways that matter: as a running Prometheus does (one
 * kept-alive HTTP/1.1 connection, Prometheus 2.x's Accept header preferring OpenMetrics, gzip), and on a new TCP
 * connection per scrape asking for the text format (as after a Prometheus restart, or as curl does). Times run to
 * the last byte of the body.
 */
public final class Scraper {
    /** The Accept header of Prometheus 2.x scrapes (scrape_protocols' default order). */
    public static final String PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,"
            + "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    static {
        // "Connection: close" is a restricted header unless allowed before the first HttpClient is built; it is how
        // a scrape gets a connection of its own (the client pools connections otherwise)
        System.setProperty("jdk.httpclient.allowRestrictedHeaders", "connection");
    }

    /** One scrape: seconds to the last byte, bytes on the wire, the (decompressed) body. */
    public record Scrape(double seconds, long wireBytes, String body) {
    }

    private final String name;
    private final int port;
    private final HttpClient keptAlive;
    private final HttpClient fresh;

    public Scraper(String name, int port) {
        this.name = name;
        this.port = port;
        this.keptAlive = client();
        this.fresh = client();
    }

    private static HttpClient client() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT).build();
    }

    public int port() {
        return port;
    }

    /** A new TCP connection for this scrape, text format, no compression. */
    public Scrape fresh(String path) {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(TIMEOUT)
                .header("Accept", "text/plain;version=0.0.4").header("Connection", "close").GET().build();
        return send(fresh, request);
    }

    public Scrape fresh() {
        return fresh("/metrics");
    }

    /** Over the connection kept alive between scrapes, with the headers Prometheus 2.x sends. */
    public Scrape asPrometheus() {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).timeout(TIMEOUT)
                .header("Accept", PROMETHEUS_ACCEPT).header("Accept-Encoding", "gzip").GET().build();
        return send(keptAlive, request);
    }

    private Scrape send(HttpClient client, HttpRequest request) {
        long start = System.nanoTime();
        HttpResponse<byte[]> response;
        try {
            response = client.send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new UncheckedIOException(name + " on :" + port + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        if (response.statusCode() != 200) {
            throw new IllegalStateException(name + " answered " + response.statusCode() + " to " + request.uri());
        }
        byte[] wire = response.body();
        boolean gzip = response.headers().firstValue("Content-Encoding").map("gzip"::equalsIgnoreCase).orElse(false);
        return new Scrape(seconds, wire.length, new String(gzip ? gunzip(wire) : wire, StandardCharsets.UTF_8));
    }

    private static byte[] gunzip(byte[] wire) {
        try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(wire))) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
