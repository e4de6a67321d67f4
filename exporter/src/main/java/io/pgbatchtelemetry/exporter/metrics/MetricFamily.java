package io.pgbatchtelemetry.exporter.metrics;

import java.util.List;
import java.util.Objects;

/**
 * The identity of one exposed metric: name, type, help and label names.
 *
 * <p>Collectors declare their families as constants so that docs/metrics.md, tests and the code
 * share one spelling. Counter names carry their {@code _total} suffix here, as users see them;
 * the snapshot adapter strips it for the client library, which adds it back on exposition.
 */
public record MetricFamily(String name, Type type, String help, List<String> labelNames) {

    /** INFO is a constant 1 whose labels carry the information (name ends in {@code _info}). */
    public enum Type { COUNTER, GAUGE, INFO }

    public MetricFamily {
        Objects.requireNonNull(name);
        Objects.requireNonNull(help);
        labelNames = List.copyOf(labelNames);
        if (type == Type.COUNTER && !name.endsWith("_total")) {
            throw new IllegalArgumentException("counter " + name + " must end in _total");
        }
        if (type == Type.GAUGE && (name.endsWith("_total") || name.endsWith("_info"))) {
            throw new IllegalArgumentException("gauge " + name + " must not end in _total or _info");
        }
        if (type == Type.INFO && !name.endsWith("_info")) {
            throw new IllegalArgumentException("info " + name + " must end in _info");
        }
    }

    public static MetricFamily counter(String name, String help, String... labelNames) {
        return new MetricFamily(name, Type.COUNTER, help, List.of(labelNames));
    }

    public static MetricFamily info(String name, String help, String... labelNames) {
        return new MetricFamily(name, Type.INFO, help, List.of(labelNames));
    }

    public static MetricFamily gauge(String name, String help, String... labelNames) {
        return new MetricFamily(name, Type.GAUGE, help, List.of(labelNames));
    }
}
