package io.pgbatchtelemetry.exporter.sampler;

import java.time.Duration;

/**
 * How many seconds one sample stands for: the estimator behind every sampler seconds counter.
 *
 * <p>A sample taken at time t<sub>i</sub> credits each session it sees with
 * w<sub>i</sub> = t<sub>i</sub> − t<sub>i−1</sub>, the monotonic time since the previous
 * successful sample (taken just before the query runs). This is a Riemann sum of each session's
 * state over time: for a session that spends D seconds in one wait, the estimate is off by less
 * than one interval at each end of the wait, and unbiased when the waits' start and end are not in
 * step with the sampler's clock. Weighting by elapsed time rather than by the nominal interval
 * means a tick that fired late (a busy machine, a GC pause, a slow sample) credits the longer time
 * it stands for: nothing is lost and nothing is counted twice, because consecutive weights tile
 * the timeline.
 *
 * <p>Two cases have no previous sample to measure from, and get one nominal interval (the time
 * the state was most likely already held): the first sample, and the first sample after a failed
 * one (what happened while the server was unreachable is unknown, and a restarted server has new
 * sessions). A weight is also capped at three intervals, so a long stall of the exporter does not
 * credit minutes to whatever happened to be running when it woke up. The time not credited shows
 * as {@code pg_sampler_covered_seconds_total} falling behind the clock.
 */
final class SampleWeights {

    static final int CAP_INTERVALS = 3;

    private final long intervalNanos;
    private long previousNanos;
    private boolean haveBaseline;

    SampleWeights(Duration interval) {
        this.intervalNanos = interval.toNanos();
    }

    /** The weight in seconds of a successful sample taken at {@code nanoTime}. */
    double sampled(long nanoTime) {
        long elapsed = haveBaseline ? nanoTime - previousNanos : intervalNanos;
        previousNanos = nanoTime;
        haveBaseline = true;
        long weight = Math.max(0, Math.min(elapsed, CAP_INTERVALS * intervalNanos));
        return weight / 1e9;
    }

    /** A sample failed: the next success starts from a nominal interval again. */
    void failed() {
        haveBaseline = false;
    }
}
