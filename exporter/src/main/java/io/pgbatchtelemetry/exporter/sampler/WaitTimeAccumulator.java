package io.pgbatchtelemetry.exporter.sampler;

import io.pgbatchtelemetry.exporter.config.ExporterSettings.BatchRule;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sampler's counters: adds one sample's sessions, weighted by the seconds that sample stands
 * for, and writes the totals for a scrape.
 *
 * <p>Pure and in memory, so a scrape reads it without touching PostgreSQL: the only thing a scrape
 * can wait for is this object's lock, which the sampler holds for the few microseconds of adding
 * one sample, never across a query.
 *
 * <p>Every family goes through a {@link LabelSetLimiter}, so the series count is bounded by
 * {@code max-series} per family whatever the workload: the whole-server wait counter folds new
 * label sets into {@code {backend_type="other", wait_event_type=<type>, wait_event="other"}}, the
 * per-batch one into {@code {batch=<batch>, wait_event_type="other", wait_event="other"}}, the
 * blocker counters into {@code blocker_class="other"}. Per batch, waits are also attributed to the
 * statement (query_id); the first {@link #STATEMENTS_PER_BATCH} statements a batch is seen running
 * get their own series and later ones count as {@code queryid="other"}, so that family stays within
 * batches x statements x wait types whatever the workload.
 */
final class WaitTimeAccumulator {

    private static final Logger LOG = LoggerFactory.getLogger(WaitTimeAccumulator.class);
    private static final String OTHER = WaitEventKey.OTHER;
    /** Statements per batch with series of their own in pg_batch_statement_wait_seconds_total. */
    static final int STATEMENTS_PER_BATCH = 20;

    private final BatchClassifier classifier;
    private final int maxSeries;
    private final Counters waits;
    private final Counters batchWaits;
    private final Counters blocked;
    private final Counters batchBlocked;
    private final Counters batchStatements;
    private final Map<String, Set<String>> statementsOfBatch = new HashMap<>();
    /** Sessions per batch in the last sample, in config order; {@code null} when the last sample failed. */
    private Map<String, Integer> batchSessions;

    WaitTimeAccumulator(List<BatchRule> rules, int maxSeries) {
        this.classifier = new BatchClassifier(rules);
        this.maxSeries = maxSeries;
        int batches = rules.size();
        waits = new Counters(SamplerFamilies.WAIT_EVENT_SECONDS, new LabelSetLimiter(maxSeries, WaitEventKey.KNOWN_TYPES.size() + 1,
                labels -> List.of(OTHER, WaitEventKey.boundedType(labels.get(1)), OTHER)));
        batchWaits = new Counters(SamplerFamilies.BATCH_WAIT_EVENT_SECONDS, new LabelSetLimiter(maxSeries, batches,
                labels -> List.of(labels.get(0), OTHER, OTHER)));
        blocked = new Counters(SamplerFamilies.LOCK_WAIT_BLOCKED_SECONDS, new LabelSetLimiter(maxSeries, 1,
                labels -> List.of(OTHER)));
        batchBlocked = new Counters(SamplerFamilies.BATCH_BLOCKED_SECONDS, new LabelSetLimiter(maxSeries, batches,
                labels -> List.of(labels.get(0), OTHER)));
        batchStatements = new Counters(SamplerFamilies.BATCH_STATEMENT_SECONDS, new LabelSetLimiter(maxSeries,
                batches * (WaitEventKey.KNOWN_TYPES.size() + 1), labels -> List.of(labels.get(0), OTHER, WaitEventKey.boundedType(labels.get(2)))));
    }

    /**
     * Adds one sample.
     *
     * @param sessions  the query's rows: sampled sessions and the blockers they reference
     * @param seconds   the wall time this sample stands for
     */
    synchronized void add(List<SessionSample> sessions, double seconds) {
        Map<Integer, SessionSample> byPid = new HashMap<>();
        for (SessionSample session : sessions) {
            byPid.put(session.pid(), session);
        }
        Map<String, Integer> perBatch = new LinkedHashMap<>();
        classifier.rules().forEach(rule -> perBatch.put(rule.name(), 0));
        for (SessionSample session : sessions) {
            if (!session.sampled()) {
                continue;
            }
            WaitEventKey wait = WaitEventKey.of(session.waitEventType(), session.waitEvent());
            String backendType = session.backendType() == null ? "" : session.backendType();
            waits.add(List.of(backendType, wait.type(), wait.event()), seconds);
            String batch = classifier.batchOf(session);
            if (batch != null) {
                perBatch.merge(batch, 1, Integer::sum);
                batchWaits.add(List.of(batch, wait.type(), wait.event()), seconds);
                batchStatements.add(List.of(batch, statementOf(batch, session.queryId()), wait.type()), seconds);
            }
            if (!session.blockedBy().isEmpty()) {
                // a session blocked by two sessions of one class is blocked once by that class
                Set<String> classes = new TreeSet<>();
                for (int blocker : session.blockedBy()) {
                    classes.add(classifier.blockerClass(byPid.get(blocker)));
                }
                for (String blockerClass : classes) {
                    blocked.add(List.of(blockerClass), seconds);
                    if (batch != null) {
                        batchBlocked.add(List.of(batch, blockerClass), seconds);
                    }
                }
            }
        }
        batchSessions = perBatch;
    }

    /** The queryid label of a batch's session: its own for the batch's first statements, else "other". */
    private String statementOf(String batch, String queryId) {
        if (queryId == null || queryId.equals("0")) {
            return "";
        }
        Set<String> seen = statementsOfBatch.computeIfAbsent(batch, b -> new java.util.HashSet<>());
        if (seen.contains(queryId) || seen.size() < STATEMENTS_PER_BATCH && seen.add(queryId)) {
            return queryId;
        }
        return OTHER;
    }

    /** The last sample failed: how many sessions a batch has now is unknown. */
    synchronized void sampleFailed() {
        batchSessions = null;
    }

    synchronized void writeTo(MetricSink sink) {
        waits.writeTo(sink);
        batchWaits.writeTo(sink);
        blocked.writeTo(sink);
        batchBlocked.writeTo(sink);
        batchStatements.writeTo(sink);
        if (batchSessions != null) {
            batchSessions.forEach((batch, count) -> sink.add(SamplerFamilies.BATCH_SESSIONS, count, batch));
        } else if (!classifier.rules().isEmpty()) {
            sink.add(SamplerFamilies.BATCH_SESSIONS, (Double) null, ""); // declared, no sample: unknown is not 0
        }
    }

    /** One family's counters by label values, behind its limiter. */
    private final class Counters {
        private final MetricFamily family;
        private final LabelSetLimiter limiter;
        private final Map<List<String>, Double> totals = new LinkedHashMap<>();
        private boolean warned;

        Counters(MetricFamily family, LabelSetLimiter limiter) {
            this.family = family;
            this.limiter = limiter;
        }

        void add(List<String> labels, double seconds) {
            totals.merge(limiter.admit(labels), seconds, Double::sum);
            if (limiter.folding() && !warned) {
                warned = true;
                LOG.warn("{} reached sampler.max-series = {} label sets; new ones are counted under \"other\" "
                        + "(first folded: {})", family.name(), maxSeries, labels);
            }
        }

        void writeTo(MetricSink sink) {
            totals.forEach((labels, seconds) -> sink.add(family, seconds, labels.toArray(String[]::new)));
        }
    }
}
