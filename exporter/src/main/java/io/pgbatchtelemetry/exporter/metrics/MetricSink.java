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
 */
public final class MetricSink {

    /** One labelled value of a family. */
    public record Sample(List<String> labelValues, double value) {}

    private final Map<MetricFamily, List<Sample>> samples = new LinkedHashMap<>();

    public void add(MetricFamily family, Double value, String... labelValues) {
        if (labelValues.length != family.labelNames().size()) {
            throw new IllegalArgumentException(family.name() + " takes labels " + family.labelNames()
                    + " but got " + labelValues.length + " values");
        }
        List<Sample> list = samples.computeIfAbsent(family, f -> new ArrayList<>());
        if (value == null) {
            return; // the family is still declared (HELP/TYPE stay stable), the sample is absent
        }
        String[] values = labelValues.clone(); // the caller may reuse its array
        for (int i = 0; i < values.length; i++) {
            if (values[i] == null) {
                values[i] = "";
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

    /** Appends everything from another sink (used to merge per-collector sinks). */
    public void addAll(MetricSink other) {
        other.samples.forEach((family, list) -> samples.computeIfAbsent(family, f -> new ArrayList<>()).addAll(list));
    }

    public Map<MetricFamily, List<Sample>> samples() {
        return samples;
    }
}
