package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Prometheus asks for gzip on every scrape; the exporter compresses the client library's exposition
 * itself, at zlib's fastest level. What a scraper reads must not change: the same series as without
 * gzip, in the format it negotiated, with a body that is a complete gzip stream.
 */
class CompressionTest {

    private static final String OPENMETRICS = "application/openmetrics-text;version=1.0.0";
    private static Exporter exporter;

    @BeforeAll
    static void start() throws Exception {
        PostgresCluster cluster = SharedClusters.get(ExporterTestSupport.newestVersion());
        ExporterTestSupport.createMonitoringRole(cluster);
        exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of("sampler.enabled", "false")));
    }

    @AfterAll
    static void stop() {
        exporter.close();
    }

    private record Reply(String contentEncoding, String contentType, int wireBytes, String body) {}

    private static Reply get(String method, String accept, String acceptEncoding) throws IOException {
        HttpURLConnection connection = (HttpURLConnection) new URL("http://127.0.0.1:" + exporter.port() + "/metrics").openConnection();
        connection.setRequestMethod(method);
        if (accept != null) {
            connection.setRequestProperty("Accept", accept);
        }
        if (acceptEncoding != null) {
            connection.setRequestProperty("Accept-Encoding", acceptEncoding);
        }
        assertEquals(200, connection.getResponseCode());
        byte[] wire;
        try (InputStream in = connection.getInputStream()) {
            wire = in.readAllBytes();
        }
        String encoding = connection.getHeaderField("Content-Encoding");
        byte[] plain = wire;
        if ("gzip".equals(encoding)) {
            try (InputStream gunzip = new GZIPInputStream(new java.io.ByteArrayInputStream(wire))) {
                plain = gunzip.readAllBytes(); // fails unless the stream ends with its trailer
            }
        }
        return new Reply(encoding, connection.getContentType(), wire.length, new String(plain, StandardCharsets.UTF_8));
    }

    /** The series of an exposition, without their values (which move between scrapes). */
    private static Set<String> series(String body) {
        Set<String> series = new TreeSet<>();
        for (String line : body.split("\n")) {
            if (!line.isEmpty() && !line.startsWith("#")) {
                series.add(line.substring(0, line.lastIndexOf(' ')));
            }
        }
        return series;
    }

    @Test
    void gzipCarriesTheSameSeriesInTheNegotiatedFormat() throws Exception {
        for (String accept : new String[] {null, OPENMETRICS}) {
            Reply plain = get("GET", accept, null);
            Reply gzip = get("GET", accept, "gzip, deflate");
            assertNull(plain.contentEncoding(), "not asked for gzip, not compressed");
            assertEquals("gzip", gzip.contentEncoding());
            assertEquals(plain.contentType(), gzip.contentType());
            assertEquals(series(plain.body()), series(gzip.body()), "same series with and without gzip, Accept " + accept);
            assertTrue(series(gzip.body()).size() > 100, "a whole exposition: " + series(gzip.body()).size());
            assertTrue(gzip.wireBytes() * 4 < plain.wireBytes(), "compressed: " + gzip.wireBytes() + " vs " + plain.wireBytes());
            if (accept != null) {
                assertTrue(gzip.body().endsWith("# EOF\n"), "OpenMetrics ends with # EOF");
            }
        }
    }

    @Test
    void gzipRefusedWithQZeroIsNotUsed() throws Exception {
        assertNull(get("GET", null, "gzip;q=0, identity").contentEncoding());
        assertEquals("gzip", get("GET", null, "identity;q=0.5, GZIP;q=0.8").contentEncoding());
    }

    @Test
    void headAnswersWithoutABody() throws Exception {
        Reply head = get("HEAD", null, "gzip");
        assertEquals(0, head.wireBytes());
        assertTrue(head.contentType().startsWith("text/plain"), head.contentType());
    }
}
