package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Slow clients must not stop scraping: more connections than the server has threads, each sending
 * one header line a second and reconnecting as soon as it is cut off (the attack goes on), and a
 * normal scrape in the middle of them must still be answered within Prometheus' default
 * scrape_timeout (10 s), plain and with TLS and basic auth, while every slow connection is closed
 * about {@code web.request-timeout} after it started.
 *
 * <p>The exporter runs in a JVM of its own: the JDK server's limits are JVM-wide properties read
 * once, so only a fresh JVM shows what operators get.
 */
class SlowClientsTest {

    private static final int SLOW_CLIENTS = 10;               // the server has 8 threads
    private static final int REQUEST_TIMEOUT_SECONDS = 2;
    private static final Duration SCRAPE_TIMEOUT = Duration.ofSeconds(10);
    private static final String USER = "prometheus";
    private static final String PASSWORD = "slow-Loris-9";

    @TempDir
    Path dir;

    @Test
    void plainHttp() throws Exception {
        attackAndScrape(false);
    }

    @Test
    void tlsWithBasicAuth() throws Exception {
        attackAndScrape(true);
    }

    private void attackAndScrape(boolean tls) throws Exception {
        PostgresCluster cluster = SharedClusters.get(SharedClusters.versions().get(0));
        ExporterTestSupport.createMonitoringRole(cluster);
        List<String> args = new ArrayList<>(List.of("--web.listen-address=127.0.0.1:0",
                "--web.request-timeout=" + REQUEST_TIMEOUT_SECONDS + "s"));
        SSLContext clientTls = null;
        if (tls) {
            TestCertificates ca = TestCertificates.authority(dir, "slow");
            TestCertificates.Issued cert = ca.server("exporter");
            Path passwordFile = Files.writeString(dir.resolve("web-password"), PASSWORD + "\n");
            Files.setPosixFilePermissions(passwordFile, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            args.addAll(List.of("--web.tls.cert-file=" + cert.cert(), "--web.tls.key-file=" + cert.key(),
                    "--web.basic-auth.username=" + USER, "--web.basic-auth.password-file=" + passwordFile));
            clientTls = ca.clientContext();
        }
        String scheme = tls ? "https" : "http";
        ExecutorService attackers = Executors.newFixedThreadPool(SLOW_CLIENTS);
        AtomicBoolean attacking = new AtomicBoolean(true);
        ConcurrentLinkedQueue<Long> heldMillis = new ConcurrentLinkedQueue<>();
        try (ExporterProcess process = ExporterProcess.start(Map.of("DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER
                + ":" + ExporterTestSupport.MONITOR_PASSWORD + "@" + cluster.host() + ":" + cluster.port() + "/postgres?sslmode=disable"),
                args, dir.resolve("exporter-" + scheme + ".log"))) {
            int port = process.awaitPort();
            HttpClient client = client(clientTls);
            assertEquals(200, scrape(client, scheme, port).statusCode(), "before the attack");

            List<Future<?>> running = new ArrayList<>();
            SSLContext context = clientTls;
            for (int i = 0; i < SLOW_CLIENTS; i++) {
                running.add(attackers.submit(() -> {
                    while (attacking.get()) {
                        long held = holdSlowConnection(context, port, attacking);
                        if (held > 0) {
                            heldMillis.add(held);
                        }
                    }
                    return null;
                }));
            }
            Thread.sleep(1_000); // every thread is now busy reading a slow request

            long start = System.nanoTime();
            HttpResponse<String> during = scrape(client, scheme, port); // throws HttpTimeoutException after SCRAPE_TIMEOUT
            long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertEquals(200, during.statusCode());
            assertTrue(during.body().contains("pg_up 1"), "a real scrape, answered in " + tookMillis + " ms");

            Thread.sleep(TimeUnit.SECONDS.toMillis(REQUEST_TIMEOUT_SECONDS) + 2_000); // at least one full round of cuts
            attacking.set(false);
            for (Future<?> f : running) {
                f.get(30, TimeUnit.SECONDS);
            }
            assertTrue(heldMillis.size() >= SLOW_CLIENTS, "every slow client was cut off at least once: " + heldMillis);
            long longest = heldMillis.stream().mapToLong(Long::longValue).max().orElseThrow();
            // the JDK checks once a second: request-timeout plus that tick, plus scheduling slack
            assertTrue(longest <= TimeUnit.SECONDS.toMillis(REQUEST_TIMEOUT_SECONDS) + 3_000,
                    "slow connections are closed after web.request-timeout; longest held " + longest + " ms");
            assertTrue(process.process().isAlive());
        } finally {
            attacking.set(false);
            attackers.shutdownNow();
        }
    }

    /**
     * Opens a connection (with TLS: completes the handshake), starts a request and sends one more
     * header line a second until the server closes the connection; returns how long it stayed open.
     * When the attack ends first, returns 0 (not counted as cut: {@code heldMillis} only needs the cuts).
     */
    private static long holdSlowConnection(SSLContext tls, int port, AtomicBoolean attacking) throws IOException {
        long opened = System.nanoTime();
        try (Socket socket = tls == null ? new Socket() : tls.getSocketFactory().createSocket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
            socket.setSoTimeout(1_000);
            if (socket instanceof SSLSocket ssl) {
                ssl.startHandshake();
            }
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            out.write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            for (int line = 0; attacking.get(); line++) {
                try {
                    if (in.read() < 0) {
                        break; // closed by the server
                    }
                } catch (SocketTimeoutException stillOpen) {
                    out.write(("X-Slow-" + line + ": 1\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                }
            }
            if (!attacking.get()) {
                return 0;
            }
        } catch (IOException cut) {
            if (!attacking.get()) {
                return 0;
            }
        }
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - opened);
    }

    private static HttpClient client(SSLContext tls) {
        HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(SCRAPE_TIMEOUT);
        if (tls != null) {
            builder.sslContext(tls);
        }
        return builder.build();
    }

    private static HttpResponse<String> scrape(HttpClient client, String scheme, int port) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(scheme + "://127.0.0.1:" + port + "/metrics"))
                .timeout(SCRAPE_TIMEOUT)
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString((USER + ":" + PASSWORD).getBytes(StandardCharsets.UTF_8)))
                .build();
        return client.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }
}
