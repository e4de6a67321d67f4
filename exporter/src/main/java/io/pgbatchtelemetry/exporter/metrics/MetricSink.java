package io.pgbatchtelemetry.exporter.metrics;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a collector writes its samples during one scrape.
 *
 * <p>A {@code null} value is dropped: PostgreSQL's NULL means "not known" (no replica connected,
 * timing not tracked for that row), and exposing it as 0 would read as "fast" or "healthy".
 * Each collector gets its own sink so that a collector failing half-way contributes nothing
 * rather than a misleading half.
 *
 * <p>The sink is also where a source's output is bounded ({@link LabelBounds}): long label values
 * are shortened as they arrive (the long string is not kept), and series of a family beyond the
 * sink's limit are counted and left out, so whatever the database holds, a scrape stays small.
 */
public final class MetricSink {

    /** One labelled value of a family. */
    public record Sample(List<String> labelValues, double value) {}

    private final Map<MetricFamily, List<Sample>> samples = new LinkedHashMap<>();
    private final Map<MetricFamily, Integer> truncated = new LinkedHashMap<>();
    private final Map<MetricFamily, Integer> dropped = new LinkedHashMap<>();
    private final int maxSeriesPerFamily;

    /** A sink for a collector: {@value LabelBounds#DEFAULT_MAX_SERIES_PER_FAMILY} series per family at most. */
    public MetricSink() {
        this(LabelBounds.DEFAULT_MAX_SERIES_PER_FAMILY);
    }

    /** A sink for a source that bounds its own series (the sampler's {@code sampler.max-series}). */
    public MetricSink(int maxSeriesPerFamily) {
        this.maxSeriesPerFamily = maxSeriesPerFamily;
    }

    public void add(MetricFamily family, Double value, String... labelValues) {
        if (labelValues.length != family.labelNames().size()) {
            throw new IllegalArgumentException(family.name() + " takes labels " + family.labelNames()
                    + " but got " + labelValues.length + " values");
        }
        List<Sample> list = samples.computeIfAbsent(family, f -> new ArrayList<>());
        if (value == null) {
            return; // the family is still declared (HELP/TYPE stay stable), the sample is absent
        }
        if (list.size() >= maxSeriesPerFamily) {
            dropped.merge(family, 1, Integer::sum);
            return;
        }
        String[] values = labelValues.clone(); // the caller may reuse its array
        for (int i = 0; i < values.length; i++) {
            if (values[i] == null) {
                values[i] = "";
            } else if (values[i].length() > LabelBounds.MAX_LABEL_VALUE_CHARS) {
                values[i] = LabelBounds.bound(values[i]);
                truncated.merge(family, 1, Integer::sum);
            }
        }
        list.add(new Sample(List.of(values), value));
    }

    public void add(MetricFamily family, long value, String... labelValues) {
        add(family, (double) value, labelValues);
    }

    public void add(MetricFamily family, boolean value, String... labelValues) {
        add(family, value ? 1.0 : 0.0, labelValues);
    }

    /** Appends everything from another sink (used to merge per-collector sinks), what it cut included. */
    public void addAll(MetricSink other) {
        other.samples.forEach((family, list) -> samples.computeIfAbsent(family, f -> new ArrayList<>()).addAll(list));
        other.truncated.forEach((family, n) -> truncated.merge(family, n, Integer::sum));
        other.dropped.forEach((family, n) -> dropped.merge(family, n, Integer::sum));
    }

    /** Label values shortened, by family. */
    public Map<MetricFamily, Integer> truncated() {
        return truncated;
    }

    /** Series left out over the limit, by family. */
    public Map<MetricFamily, Integer> dropped() {
        return dropped;
    }

    public Map<MetricFamily, List<Sample>> samples() {
        return samples;
    }
}
