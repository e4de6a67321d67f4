package io.pgbatchtelemetry.exporter.collector;

import static org.junit.jupiter.api.Assertions.fail;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.time.Duration;
import java.util.function.Predicate;

/**
 * Polls until a condition holds, failing with what was last seen once a generous deadline passes.
 *
 * <p>Workloads here block on purpose (a lock, a paused replay), and the server publishes their
 * state asynchronously; polling states the wait in terms of the outcome instead of a sleep.
 */
final class Eventually {

    /** Generous: a loaded 2-core machine may be slow, and a passing test never waits this long. */
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    private static final long POLL_MILLIS = 50;

    @FunctionalInterface
    interface Probe<T> {
        T get() throws Exception;
    }

    private Eventually() {}

    /** Returns the first probed value satisfying {@code done}. */
    static <T> T await(String what, Probe<T> probe, Predicate<T> done) throws Exception {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        T last = probe.get();
        while (!done.test(last)) {
            if (System.nanoTime() > deadline) {
                fail("waited " + DEADLINE.toSeconds() + " s for " + what + "; last seen: " + describe(last));
            }
            Thread.sleep(POLL_MILLIS);
            last = probe.get();
        }
        return last;
    }

    private static String describe(Object value) {
        if (value instanceof MetricSink sink) {
            StringBuilder text = new StringBuilder();
            sink.samples().forEach((family, samples) -> text.append(family.name()).append(samples).append('\n'));
            return text.toString();
        }
        return String.valueOf(value);
    }
}
