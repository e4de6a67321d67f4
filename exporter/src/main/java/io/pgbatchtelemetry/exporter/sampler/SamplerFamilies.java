package io.pgbatchtelemetry.exporter.sampler;

import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import java.util.List;

/**
 * The metrics of the wait-event sampler, in one place for the accumulator, the docs and the tests.
 *
 * <p>All seconds counters are estimated session-seconds: each sample adds the time elapsed since
 * the previous sample to every session it sees (see {@link SampleWeights}), so {@code rate()} of
 * them is average active sessions (AAS).
 */
public final class SamplerFamilies {

    public static final MetricFamily WAIT_EVENT_SECONDS = MetricFamily.counter("pg_wait_event_seconds_total",
            "Estimated session-seconds spent per wait event, from sampling pg_stat_activity; rate() is average "
                    + "active sessions (AAS). wait_event_type=\"CPU\" is an active session not waiting.",
            "backend_type", "wait_event_type", "wait_event");
    public static final MetricFamily LOCK_WAIT_BLOCKED_SECONDS = MetricFamily.counter("pg_lock_wait_blocked_seconds_total",
            "Estimated session-seconds sessions spent waiting on a lock held by a session of blocker_class "
                    + "(its batch name, else its backend_type, else other). A session blocked by two classes counts in both.",
            "blocker_class");
    public static final MetricFamily BATCH_WAIT_EVENT_SECONDS = MetricFamily.counter("pg_batch_wait_event_seconds_total",
            "Estimated session-seconds a batch's sessions spent per wait event; rate() is the batch's average active sessions.",
            "batch", "wait_event_type", "wait_event");
    public static final MetricFamily BATCH_STATEMENT_SECONDS = MetricFamily.counter("pg_batch_statement_wait_seconds_total",
            "Estimated session-seconds a batch's sessions spent per statement (pg_stat_activity.query_id, the queryid of "
                    + "pg_stat_statements) and wait_event_type; the first " + WaitTimeAccumulator.STATEMENTS_PER_BATCH
                    + " statements of a batch get their own series, later ones count as queryid=\"other\", and "
                    + "queryid=\"\" is time without a query id.",
            "batch", "queryid", "wait_event_type");
    public static final MetricFamily BATCH_SESSIONS = MetricFamily.gauge("pg_batch_sessions",
            "Sessions of the batch that were active (not idle) in the last sample; absent when the last sample failed.",
            "batch");
    public static final MetricFamily BATCH_BLOCKED_SECONDS = MetricFamily.counter("pg_batch_blocked_seconds_total",
            "Estimated session-seconds a batch's sessions spent waiting on a lock held by a session of blocker_class.",
            "batch", "blocker_class");
    public static final MetricFamily SAMPLES = MetricFamily.counter("pg_sampler_samples_total",
            "Samples of pg_stat_activity taken.");
    public static final MetricFamily ERRORS = MetricFamily.counter("pg_sampler_errors_total",
            "Samples that failed (server down, connection lost, query error); the sampler backs off exponentially.");
    public static final MetricFamily MISSED_TICKS = MetricFamily.counter("pg_sampler_missed_ticks_total",
            "Scheduled samples skipped because the previous one (or the exporter) ran late; their time is "
                    + "credited to the next sample, not lost.");
    public static final MetricFamily COVERED_SECONDS = MetricFamily.counter("pg_sampler_covered_seconds_total",
            "Wall-clock seconds the wait counters account for; less than elapsed time while the sampler fails.");
    public static final MetricFamily INTERVAL = MetricFamily.gauge("pg_sampler_interval_seconds",
            "Configured time between two samples.");
    public static final MetricFamily SAMPLE_DURATION = MetricFamily.gauge("pg_sampler_sample_duration_seconds",
            "Time the last successful sample query took, as the exporter saw it.");
    public static final MetricFamily LAST_SAMPLE = MetricFamily.gauge("pg_sampler_last_sample_timestamp_seconds",
            "When the last successful sample was taken (Unix time).");

    public static final List<MetricFamily> FAMILIES = List.of(WAIT_EVENT_SECONDS, LOCK_WAIT_BLOCKED_SECONDS,
            BATCH_WAIT_EVENT_SECONDS, BATCH_STATEMENT_SECONDS, BATCH_SESSIONS, BATCH_BLOCKED_SECONDS, SAMPLES, ERRORS, MISSED_TICKS,
            COVERED_SECONDS, INTERVAL, SAMPLE_DURATION, LAST_SAMPLE);

    private SamplerFamilies() {}
}
