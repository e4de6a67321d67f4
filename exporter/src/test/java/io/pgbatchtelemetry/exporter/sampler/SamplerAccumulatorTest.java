package io.pgbatchtelemetry.exporter.sampler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.config.ExporterSettings.BatchRule;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The accumulator's mapping from sampled rows to counters; pure, rows built by hand. */
class SamplerAccumulatorTest {

    private static final BatchRule ETL = new BatchRule("nightly_etl", Pattern.compile("^etl_"), null, null);
    private static final BatchRule BILLING = new BatchRule("billing", null, "billing_user", "billing");

    @Test
    void activeSessionWithoutWaitEventIsCpuAndWeightsAddUp() {
        WaitTimeAccumulator accumulator = new WaitTimeAccumulator(List.of(), 500);
        accumulator.add(List.of(active(1, "client backend", null, null, "app", "u", "db")), 1.0);
        accumulator.add(List.of(active(1, "client backend", null, null, "app", "u", "db"),
                active(2, "client backend", "IO", "DataFileRead", "app", "u", "db")), 0.5);
        Map<List<String>, Double> waits = values(accumulator, SamplerFamilies.WAIT_EVENT_SECONDS);
        assertEquals(1.5, waits.get(List.of("client backend", "CPU", "CPU")), 1e-9);
        assertEquals(0.5, waits.get(List.of("client backend", "IO", "DataFileRead")), 1e-9);
        assertEquals(2, waits.size());
    }

    @Test
    void rowsThatAreOnlyBlockersAreNotLoad() {
        WaitTimeAccumulator accumulator = new WaitTimeAccumulator(List.of(ETL), 500);
        SessionSample holder = blocker(10, "client backend", "etl_loader_1", "etl", "dw");
        SessionSample waiter = new SessionSample(11, "client backend", "Lock", "transactionid", "report", "bi", "dw",
                List.of(10), true);
        accumulator.add(List.of(holder, waiter), 2.0);
        Map<List<String>, Double> waits = values(accumulator, SamplerFamilies.WAIT_EVENT_SECONDS);
        assertEquals(Map.of(List.of("client backend", "Lock", "transactionid"), 2.0), waits);
        assertEquals(Map.of(List.of("nightly_etl"), 2.0), values(accumulator, SamplerFamilies.LOCK_WAIT_BLOCKED_SECONDS),
                "the blocker's batch names its class");
        assertEquals(Map.of(List.of("nightly_etl"), 0.0), values(accumulator, SamplerFamilies.BATCH_SESSIONS),
                "an idle-in-transaction blocker is not an active session of its batch");
        assertTrue(values(accumulator, SamplerFamilies.BATCH_BLOCKED_SECONDS).isEmpty(), "the waiter is in no batch");
    }

    @Test
    void batchAttributionFirstRuleWinsAndBlockerClassesAreBounded() {
        WaitTimeAccumulator accumulator = new WaitTimeAccumulator(List.of(ETL, BILLING), 500);
        List<SessionSample> rows = List.of(
                // matches both rules: counted once, for the first
                active(1, "client backend", "IO", "DataFileRead", "etl_step_3", "billing_user", "billing"),
                active(2, "client backend", null, null, "psql", "billing_user", "billing"),
                active(3, "client backend", null, null, "psql", "billing_user", "other_db"),
                // blocked by a vacuum, an ad-hoc session and a pid that is gone: three classes, each once
                new SessionSample(4, "client backend", "Lock", "relation", "etl_step_4", "etl", "dw", List.of(20, 21, 22, 99), true),
                blocker(20, "autovacuum worker", "", null, "dw"),
                blocker(21, "client backend", "DBeaver 23.1 - Main", "alice", "dw"),
                blocker(22, "client backend", "DBeaver 23.1 - SQLEditor", "bob", "dw"));
        accumulator.add(rows, 1.0);

        assertEquals(Map.of(List.of("nightly_etl"), 2.0, List.of("billing"), 1.0),
                values(accumulator, SamplerFamilies.BATCH_SESSIONS));
        Map<List<String>, Double> batchWaits = values(accumulator, SamplerFamilies.BATCH_WAIT_EVENT_SECONDS);
        assertEquals(1.0, batchWaits.get(List.of("nightly_etl", "IO", "DataFileRead")));
        assertEquals(1.0, batchWaits.get(List.of("nightly_etl", "Lock", "relation")));
        assertEquals(1.0, batchWaits.get(List.of("billing", "CPU", "CPU")));
        assertEquals(3, batchWaits.size());
        Map<List<String>, Double> blocked = values(accumulator, SamplerFamilies.LOCK_WAIT_BLOCKED_SECONDS);
        assertEquals(Map.of(List.of("autovacuum worker"), 1.0, List.of("client backend"), 1.0, List.of("other"), 1.0), blocked,
                "two DBeaver sessions are one class; raw application names never become labels");
        assertEquals(Map.of(List.of("nightly_etl", "autovacuum worker"), 1.0, List.of("nightly_etl", "client backend"), 1.0,
                List.of("nightly_etl", "other"), 1.0), values(accumulator, SamplerFamilies.BATCH_BLOCKED_SECONDS));
    }

    @Test
    void failedSampleMakesBatchSessionsUnknownNotZero() {
        WaitTimeAccumulator accumulator = new WaitTimeAccumulator(List.of(ETL), 500);
        accumulator.add(List.of(active(1, "client backend", null, null, "etl_a", "u", "db")), 1.0);
        assertEquals(1.0, values(accumulator, SamplerFamilies.BATCH_SESSIONS).get(List.of("nightly_etl")));
        accumulator.sampleFailed();
        MetricSink sink = new MetricSink();
        accumulator.writeTo(sink);
        assertTrue(sink.samples().get(SamplerFamilies.BATCH_SESSIONS).isEmpty(), "declared but absent");
        assertEquals(1.0, values(accumulator, SamplerFamilies.WAIT_EVENT_SECONDS).get(List.of("client backend", "CPU", "CPU")),
                "counters keep their totals");
    }

    @Test
    void thousandExtensionWaitEventsStayUnderMaxSeriesAndNoTimeIsLost() {
        int maxSeries = 100;
        WaitTimeAccumulator accumulator = new WaitTimeAccumulator(List.of(ETL), maxSeries);
        double total = 0;
        for (int round = 0; round < 3; round++) {
            List<SessionSample> rows = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                // PG17+ extensions name their own wait events; a buggy one could mint one per session
                rows.add(active(i, "client backend", "Extension", "my_ext_wait_" + i, "etl_" + i, "u", "db"));
                rows.add(active(5000 + i, "bgworker_" + i, "LWLock", "tranche_" + i, "", "u", "db"));
                rows.add(active(9000 + i, "client backend", "NewType" + i, "x", "etl_" + i, "u", "db"));
            }
            accumulator.add(rows, 0.25);
            total += rows.size() * 0.25;
        }
        Map<List<String>, Double> waits = values(accumulator, SamplerFamilies.WAIT_EVENT_SECONDS);
        assertTrue(waits.size() <= maxSeries, "series: " + waits.size());
        assertEquals(total, waits.values().stream().mapToDouble(Double::doubleValue).sum(), 1e-6, "folded, not dropped");
        assertTrue(waits.containsKey(List.of("other", "Extension", "other")), waits.keySet().toString());
        assertTrue(waits.containsKey(List.of("other", "LWLock", "other")), waits.keySet().toString());
        assertTrue(waits.containsKey(List.of("other", "other", "other")), "unknown wait_event_type folds too");

        Map<List<String>, Double> batchWaits = values(accumulator, SamplerFamilies.BATCH_WAIT_EVENT_SECONDS);
        assertTrue(batchWaits.size() <= maxSeries, "batch series: " + batchWaits.size());
        assertTrue(batchWaits.containsKey(List.of("nightly_etl", "other", "other")));
        assertEquals(2000 * 3 * 0.25, batchWaits.values().stream().mapToDouble(Double::doubleValue).sum(), 1e-6);

        // an admitted label set keeps counting after the limit is reached: a counter never vanishes
        List<String> first = List.of("client backend", "Extension", "my_ext_wait_0");
        double before = waits.get(first);
        accumulator.add(List.of(active(1, "client backend", "Extension", "my_ext_wait_0", "x", "u", "db")), 1.0);
        assertEquals(before + 1.0, values(accumulator, SamplerFamilies.WAIT_EVENT_SECONDS).get(first), 1e-9);
    }

    @Test
    void blockerClassesAreCappedToo() {
        LabelSetLimiter limiter = new LabelSetLimiter(100, 1, labels -> List.of("other"));
        for (int i = 0; i < 1000; i++) {
            limiter.admit(List.of("bgworker type " + i));
        }
        assertFalse(limiter.admit(List.of("bgworker type 999")).contains("bgworker type 999"));
        assertEquals(List.of("bgworker type 0"), limiter.admit(List.of("bgworker type 0")));
        assertTrue(limiter.folding());
    }

    @Test
    void batchWaitsAreAttributedToTheirStatementsWithinABound() {
        WaitTimeAccumulator accumulator = new WaitTimeAccumulator(List.of(ETL), 500);
        int statements = WaitTimeAccumulator.STATEMENTS_PER_BATCH + 5;
        for (int q = 1; q <= statements; q++) {
            accumulator.add(List.of(new SessionSample(1, "client backend", "Lock", "transactionid", "etl_1", "etl", "dw",
                    List.of(), true, Long.toString(q)), new SessionSample(2, "client backend", null, null, "etl_2", "etl", "dw",
                    List.of(), true, null), new SessionSample(3, "client backend", null, null, "report", "bi", "dw",
                    List.of(), true, "999")), 1.0);
        }
        Map<List<String>, Double> byStatement = values(accumulator, SamplerFamilies.BATCH_STATEMENT_SECONDS);
        assertEquals(1.0, byStatement.get(List.of("nightly_etl", "1", "Lock")), 1e-9);
        assertEquals(1.0, byStatement.get(List.of("nightly_etl", Integer.toString(WaitTimeAccumulator.STATEMENTS_PER_BATCH), "Lock")), 1e-9);
        assertEquals(5.0, byStatement.get(List.of("nightly_etl", "other", "Lock")), 1e-9, "statements beyond the bound are folded");
        assertEquals((double) statements, byStatement.get(List.of("nightly_etl", "", "CPU")), 1e-9, "no query id: queryid \"\"");
        assertEquals(WaitTimeAccumulator.STATEMENTS_PER_BATCH + 2, byStatement.size(), "bounded: " + byStatement.keySet());
        assertTrue(byStatement.keySet().stream().noneMatch(k -> k.contains("999")), "sessions outside batches are not attributed");
    }

    @Test
    void batchRuleMatching() {
        BatchRule all = new BatchRule("b", Pattern.compile("^etl_.*$"), "etl", "dw");
        assertTrue(all.matches("etl_load", "etl", "dw"));
        assertFalse(all.matches("etl_load", "etl", "dw2"), "every condition must hold");
        assertFalse(all.matches("my_etl_load", "etl", "dw"));
        assertFalse(all.matches(null, "etl", "dw"));
        BatchRule unanchored = new BatchRule("b", Pattern.compile("etl"), null, null);
        assertTrue(unanchored.matches("my_etl_load", null, null), "found anywhere unless anchored");
        assertNull(new BatchClassifier(List.of(all)).batchOf(active(1, "client backend", null, null, "x", "etl", "dw")));
    }

    private static SessionSample active(int pid, String backendType, String type, String event, String app, String user, String db) {
        return new SessionSample(pid, backendType, type, event, app, user, db, List.of(), true);
    }

    private static SessionSample blocker(int pid, String backendType, String app, String user, String db) {
        return new SessionSample(pid, backendType, "Client", "ClientRead", app, user, db, List.of(), false);
    }

    private static Map<List<String>, Double> values(WaitTimeAccumulator accumulator, MetricFamily family) {
        MetricSink sink = new MetricSink();
        accumulator.writeTo(sink);
        Map<List<String>, Double> values = new HashMap<>();
        for (MetricSink.Sample sample : sink.samples().getOrDefault(family, List.of())) {
            values.put(sample.labelValues(), sample.value());
        }
        return values;
    }
}
