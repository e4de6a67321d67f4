package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM, as systemd and Kubernetes stop a service: the exporter stops accepting requests at once,
 * finishes the scrape in flight (held up here by a stalled network that resumes after the signal),
 * answers it in full, and exits; an idle exporter exits promptly.
 */
class GracefulShutdownTest {

    @TempDir
    Path dir;

    @Test
    void sigtermFinishesTheScrapeInFlight() throws Exception {
        PostgresCluster cluster = SharedClusters.get(SharedClusters.versions().get(0));
        ExporterTestSupport.createMonitoringRole(cluster);
        ExecutorService client = Executors.newSingleThreadExecutor();
        try (StallingProxy proxy = new StallingProxy(cluster.host(), cluster.port());
             ExporterProcess process = ExporterProcess.start(Map.of("DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER
                     + ":" + ExporterTestSupport.MONITOR_PASSWORD + "@127.0.0.1:" + proxy.port() + "/postgres?sslmode=disable"),
                     List.of("--web.listen-address=127.0.0.1:0"), dir.resolve("exporter.log"))) {
            int port = process.awaitPort();
            assertEquals(1.0, ExporterTestSupport.scrape(port).value("pg_up"));

            proxy.stall();
            CompletableFuture<ExporterTestSupport.Response> inFlight = CompletableFuture.supplyAsync(() -> {
                try {
                    return ExporterTestSupport.get(port, "/metrics", null);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, client);
            Thread.sleep(500); // the scrape is waiting on the stalled network
            process.process().destroy(); // SIGTERM
            Thread.sleep(500);
            assertTrue(process.process().isAlive(), "still finishing the scrape in flight");
            assertThrows(IOException.class, () -> ExporterTestSupport.get(port, "/metrics", null), "no new requests after SIGTERM");
            proxy.resume();

            ExporterTestSupport.Response response = inFlight.get(30, TimeUnit.SECONDS);
            long answered = System.nanoTime();
            assertEquals(200, response.status());
            Exposition metrics = new Exposition(response.body());
            assertEquals(1.0, metrics.value("pg_up"), "the scrape in flight completed:\n" + response.body());
            assertEquals(1.0, metrics.value("pg_scrape_collector_success", "collector", "wal"));
            assertTrue(process.process().waitFor(15, TimeUnit.SECONDS), "exited after the scrape");
            double afterAnswer = (System.nanoTime() - answered) / 1e9;
            assertTrue(afterAnswer < 5, "exited once the scrape was answered, not after the whole grace period: " + afterAnswer + " s");
            assertTrue(process.output().contains("stopping: finishing the scrape in flight"), process.output());
        } finally {
            client.shutdownNow();
        }
    }

    @Test
    void anIdleExporterStopsPromptly() throws Exception {
        PostgresCluster cluster = SharedClusters.get(SharedClusters.versions().get(0));
        ExporterTestSupport.createMonitoringRole(cluster);
        try (ExporterProcess process = ExporterProcess.start(Map.of("DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER
                + ":" + ExporterTestSupport.MONITOR_PASSWORD + "@127.0.0.1:" + cluster.port() + "/postgres"),
                List.of("--web.listen-address=127.0.0.1:0"), dir.resolve("idle.log"))) {
            int port = process.awaitPort();
            assertEquals(1.0, ExporterTestSupport.scrape(port).value("pg_up"));
            long start = System.nanoTime();
            int exit = process.terminate(30);
            double seconds = (System.nanoTime() - start) / 1e9;
            assertEquals(143, exit, "terminated by SIGTERM (128 + 15)");
            // with nothing in flight there is nothing to wait for; the shutdown grace is scrape.timeout + 2 s = 10 s
            assertTrue(seconds < 5, "an idle exporter took " + seconds + " s to stop");
        }
    }
}
