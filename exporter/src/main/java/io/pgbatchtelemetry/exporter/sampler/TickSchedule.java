package io.pgbatchtelemetry.exporter.sampler;

/**
 * Fixed-rate ticks on the monotonic clock: tick k is at origin + k·interval, so a slow sample
 * does not shift the ones after it. When a sample overruns one or more ticks, those ticks are
 * skipped rather than run back to back (a burst of samples would measure the same instant), and
 * counted as missed; the next sample's weight covers their time.
 */
final class TickSchedule {

    private final long intervalNanos;
    private long originNanos;
    private long index;

    TickSchedule(long intervalNanos, long originNanos) {
        this.intervalNanos = intervalNanos;
        this.originNanos = originNanos;
    }

    /** When the current tick is due (monotonic nanos). */
    long due() {
        return originNanos + index * intervalNanos;
    }

    /**
     * Moves to the first tick due after {@code nowNanos}, and returns how many ticks were skipped
     * on the way (0 when the sample finished before the next tick).
     */
    long advancePast(long nowNanos) {
        long next = index + 1;
        long firstFuture = Math.floorDiv(nowNanos - originNanos, intervalNanos) + 1;
        long target = Math.max(next, firstFuture);
        long skipped = target - next;
        index = target;
        return skipped;
    }

    /** Starts over with a tick due at {@code nowNanos} (after a backoff). */
    void restartAt(long nowNanos) {
        originNanos = nowNanos;
        index = 0;
    }
}
