package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The statements collector and the sampler's statement attribution against servers with
 * pg_stat_statements loaded (a private cluster per version, pg_stat_statements.max = 10000 and
 * track = all): 5,000 distinct statements give at most statements.top series, the same ones on
 * consecutive scrapes, with totals over all of them; a batch session blocked on a row lock has its
 * sampled Lock time under its own statement's queryid; scrapes within statements.interval serve the last read; the opt-in preview carries no literal. On
 * the shared clusters, where the library is not loaded, the collector exports
 * pg_stat_statements_available 0 and nothing else, and succeeds.
 */
class StatementsExporterTest {

    private static final String VERSIONS = "io.pgbatchtelemetry.harness.SharedClusters#versionsArguments";

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource(VERSIONS)
    void seriesStayBoundedAndBlockedBatchWaitsNameTheirStatement(int version) throws Exception {
        try (PostgresCluster cluster = PostgresCluster.builder(version).name("exp-stmts")
                .setting("shared_preload_libraries", "pg_stat_statements")
                .setting("pg_stat_statements.max", "10000").setting("pg_stat_statements.track", "all").build()) {
            cluster.start();
            ExporterTestSupport.createMonitoringRole(cluster);
            cluster.execute("CREATE EXTENSION pg_stat_statements");
            // 5,041 distinct statements: (1+1+...) * (1*1*...), each shape its own queryid
            cluster.execute("DO $$ DECLARE r int; BEGIN FOR a IN 1..71 LOOP FOR b IN 1..71 LOOP "
                    + "EXECUTE 'SELECT (1' || repeat('+1', a) || ') * (1' || repeat('*1', b) || ') AS x WHERE ''secret'' <> ''x''' INTO r; "
                    + "END LOOP; END LOOP; END $$");
            cluster.execute("SELECT pg_sleep(0.3)");
            // 25 statements of 60 ms each: the top 20 among them, clearly ahead of the exporter's own queries
            for (int k = 1; k <= 25; k++) {
                cluster.execute("SELECT pg_sleep(0.06)" + ", 1".repeat(k));
            }
            cluster.execute("CREATE TABLE hot (id int PRIMARY KEY, n int); INSERT INTO hot VALUES (1, 0)");
            String app = "stmt_batch_" + version;
            Map<String, String> flags = Map.of("sampler.interval", "100ms", "statements.top", "20",
                    "statements.query-preview-chars", "40",
                    "batches", "[{ name = stmt_batch, application-name = \"^" + app + "$\" }]");
            try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, flags));
                 Connection holder = SamplerTestSupport.session(cluster, "stmt_holder");
                 Connection batch = SamplerTestSupport.session(cluster, app)) {
                ExporterTestSupport.scrape(exporter.port());
                Exposition first = ExporterTestSupport.scrape(exporter.port());
                Exposition second = ExporterTestSupport.scrape(exporter.port());
                assertEquals(1.0, first.value("pg_stat_statements_available"));
                assertTrue(first.value("pg_stat_statements_entries") >= 5000, "entries: " + first.value("pg_stat_statements_entries"));
                assertEquals(10000.0, first.value("pg_stat_statements_max"));
                assertNotNull(first.value("pg_stat_statements_dealloc_total"));
                assertTrue(first.value("pg_stat_statements_all_calls_total") >= 5041);
                long series = first.count("pg_stat_statements_calls_total");
                assertTrue(series > 0 && series <= 20, "bounded: " + series);
                // within statements.interval (60 s) a scrape serves the counters last read: the same series, the same values
                assertEquals(labelSets(first, "pg_stat_statements_calls_total"), labelSets(second, "pg_stat_statements_calls_total"));
                assertEquals(first.value("pg_stat_statements_all_calls_total"), second.value("pg_stat_statements_all_calls_total"));
                assertEquals(series, first.count("pg_stat_statements_query_info"));
                String sleepId = cluster.queryValue("SELECT queryid FROM pg_stat_statements WHERE query = 'SELECT pg_sleep($1)'");
                Double sleepCalls = first.value("pg_stat_statements_calls_total", "queryid", sleepId, "datname", "postgres", "user", cluster.superuser());
                assertEquals(1.0, sleepCalls, "the slowest statement has a series");
                assertTrue(first.value("pg_stat_statements_seconds_total", "queryid", sleepId, "datname", "postgres", "user",
                        cluster.superuser()) >= 0.3);
                assertFalse(first.text().contains("secret"), "no literal in any preview");
                assertEquals("", ExporterTestSupport.promtoolCheck(first.text()));

                // the batch waits on a row lock held by another session
                holder.setAutoCommit(false);
                try (Statement s = holder.createStatement()) {
                    s.execute("UPDATE hot SET n = n WHERE id = 1");
                }
                CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> {
                    try (Statement s = batch.createStatement()) {
                        s.execute("UPDATE hot SET n = n + 1 WHERE id = 1");
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                SamplerTestSupport.awaitServer(cluster, "the batch to wait for the row lock",
                        "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = '" + app + "' AND wait_event_type = 'Lock'");
                String waitingId = cluster.queryValue("SELECT query_id FROM pg_stat_activity WHERE application_name = '" + app + "'");
                Thread.sleep(2000);
                holder.commit();
                waiting.get(10, TimeUnit.SECONDS);
                Exposition after = SamplerTestSupport.afterMoreSamples(exporter.port(), 2);
                String statementId = cluster.queryValue("SELECT queryid FROM pg_stat_statements WHERE query LIKE 'UPDATE hot SET n = n + %'");
                assertEquals(statementId, waitingId, "pg_stat_activity and pg_stat_statements name the statement alike");
                Double lockSeconds = after.value("pg_batch_statement_wait_seconds_total", "batch", "stmt_batch",
                        "queryid", statementId, "wait_event_type", "Lock");
                assertNotNull(lockSeconds, after.series().keySet().stream().filter(k -> k.startsWith("pg_batch_statement")).toList().toString());
                assertTrue(lockSeconds >= 1.5 && lockSeconds <= 4, "about 2 s of Lock wait: " + lockSeconds);
                assertEquals("", ExporterTestSupport.promtoolCheck(after.text()));
            }
        }
    }

    private static Set<String> labelSets(Exposition e, String name) {
        return e.series().keySet().stream().filter(k -> k.startsWith(name + "{")).collect(Collectors.toCollection(TreeSet::new));
    }

    @ParameterizedTest(name = "PostgreSQL {0}")
    @MethodSource(VERSIONS)
    void withoutTheLibraryTheCollectorSaysSoAndSucceeds(int version) throws Exception {
        PostgresCluster cluster = SharedClusters.get(version);
        ExporterTestSupport.createMonitoringRole(cluster);
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, Map.of()))) {
            Exposition metrics = ExporterTestSupport.scrape(exporter.port());
            assertEquals(0.0, metrics.value("pg_stat_statements_available"));
            assertEquals(1.0, metrics.value("pg_scrape_collector_success", "collector", "statements"));
            assertEquals(0, metrics.count("pg_stat_statements_calls_total"));
            assertNull(metrics.value("pg_stat_statements_all_calls_total"));
        }
    }
}
