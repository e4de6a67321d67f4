package io.pgbatchtelemetry.bench;

import java.util.Collection;
import java.util.List;

/** Nearest-rank percentiles and means of measured values. */
public final class Stats {
    private Stats() {
    }

    /** The nearest-rank p-th percentile (the value below which p % of the values lie, one of the values). */
    public static double percentile(Collection<Double> values, double p) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> ordered = values.stream().sorted().toList();
        int rank = Math.max(1, (int) Math.ceil(p / 100.0 * ordered.size()));
        return ordered.get(rank - 1);
    }

    public static double mean(Collection<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    public static double ratio(double a, double b) {
        return b == 0 ? Double.NaN : a / b;
    }
}
