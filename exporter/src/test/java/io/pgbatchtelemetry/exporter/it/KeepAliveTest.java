package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.http.MetricsHttpServer;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Requests that follow each other on one kept-alive connection (a client polling in a loop; the
 * headers are Prometheus', which keeps its connections open and asks for gzip). A server that writes
 * headers and body separately with Nagle's algorithm on makes the body wait for the client's
 * delayed ACK of the headers whenever the next request comes within the client's delayed-ACK window:
 * ~40 ms per request on Linux, against a 1–10 ms response. Measured as a ratio, in the same run, to
 * requests that each open a new connection (ACKed at once while the connection is new), so a slow
 * machine slows both alike.
 */
class KeepAliveTest {

    private static final String PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,"
            + "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    private static final int REQUESTS = 21;

    @Test
    void aKeptAliveConnectionAnswersAsFastAsANewOne() throws Exception {
        PostgresCluster cluster = SharedClusters.get(ExporterTestSupport.newestVersion());
        ExporterTestSupport.createMonitoringRole(cluster);
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of("sampler.enabled", "false")))) {
            for (String path : new String[] {MetricsHttpServer.HEALTH_PATH, "/metrics"}) {
                URL url = new URL("http://127.0.0.1:" + exporter.port() + path);
                medianMillis(url, true); // warm-up: JIT, the pool's connection, pgjdbc's prepared statements
                double keptAlive = medianMillis(url, true);
                double fresh = medianMillis(url, false);
                assertTrue(keptAlive < 3 * fresh, path + ": median " + keptAlive + " ms on a kept-alive connection vs "
                        + fresh + " ms on new connections (Nagle's algorithm waiting for a delayed ACK?)");
            }
        }
    }

    /** Median time of {@value #REQUESTS} GETs, all on one kept-alive connection or each on a new one. */
    private static double medianMillis(URL url, boolean keepAlive) throws IOException {
        double[] millis = new double[REQUESTS];
        for (int i = 0; i < REQUESTS; i++) {
            long start = System.nanoTime();
            HttpURLConnection connection = (HttpURLConnection) url.openConnection();
            connection.setRequestProperty("Accept", PROMETHEUS_ACCEPT);
            connection.setRequestProperty("Accept-Encoding", "gzip");
            if (!keepAlive) {
                connection.setRequestProperty("Connection", "close");
            }
            assertEquals(200, connection.getResponseCode(), url.toString());
            try (InputStream body = connection.getInputStream()) {
                body.readAllBytes(); // read to the end, or the JDK does not reuse the connection
            }
            millis[i] = (System.nanoTime() - start) / 1e6;
        }
        Arrays.sort(millis);
        return millis[REQUESTS / 2];
    }
}
