package io.pgbatchtelemetry.exporter.sampler;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Keeps one metric's label sets under a hard limit, whatever the workload.
 *
 * <p>Wait events are a fixed vocabulary of PostgreSQL, but extensions add their own (custom
 * {@code Extension} wait events since 17, LWLock tranches, background worker types), so the
 * number of label sets is bounded only by what is installed. Label sets are admitted in the order
 * they first appear until {@code maxSeries - reserve} are in use; after that a new label set is
 * counted under its overflow label set instead (e.g. the same wait_event_type with
 * wait_event="other"). The overflow function maps into a set of at most {@code reserve} label
 * sets, so the total never exceeds {@code maxSeries} and no time is lost, only detail. Label sets
 * already admitted keep counting: a counter never disappears.
 *
 * <p>Not thread-safe: the accumulator calls it under its lock.
 */
final class LabelSetLimiter {

    private final int admitLimit;
    private final UnaryOperator<List<String>> overflow;
    private final Set<List<String>> admitted = new HashSet<>();
    private boolean folding;

    /**
     * @param maxSeries  the hard limit of label sets
     * @param reserve    an upper bound of how many distinct values {@code overflow} can return
     * @param overflow   the label set to count under once the limit is reached
     */
    LabelSetLimiter(int maxSeries, int reserve, UnaryOperator<List<String>> overflow) {
        if (reserve >= maxSeries) {
            throw new IllegalArgumentException("reserve " + reserve + " must be below max series " + maxSeries);
        }
        this.admitLimit = maxSeries - reserve;
        this.overflow = overflow;
    }

    /** The label set to count {@code labels} under. */
    List<String> admit(List<String> labels) {
        if (admitted.contains(labels)) {
            return labels;
        }
        if (admitted.size() < admitLimit) {
            admitted.add(labels);
            return labels;
        }
        folding = true;
        return overflow.apply(labels);
    }

    /** Whether some label set has been folded (for a one-time warning). */
    boolean folding() {
        return folding;
    }
}
