package io.pgbatchtelemetry.exporter.sampler;

import java.time.Duration;

/**
 * Exponential backoff after failed samples: one interval after the first failure, then twice as
 * long after each further failure, capped at {@link #CAP} (or the interval, if longer). A server
 * that is down for an hour costs about 120 connection attempts at the default settings, not 3600,
 * and the sampler is back within {@code CAP} of the server.
 */
final class Backoff {

    static final Duration CAP = Duration.ofSeconds(30);

    private final long initialNanos;
    private final long capNanos;
    private int failures;

    Backoff(Duration interval) {
        this.initialNanos = interval.toNanos();
        this.capNanos = Math.max(CAP.toNanos(), initialNanos);
    }

    /** The delay before the next attempt, after one more failure. */
    Duration next() {
        int doublings = Math.min(failures, 40);
        failures++;
        long delay = initialNanos;
        for (int i = 0; i < doublings && delay < capNanos; i++) {
            delay *= 2;
        }
        return Duration.ofNanos(Math.min(delay, capNanos));
    }

    void reset() {
        failures = 0;
    }
}
