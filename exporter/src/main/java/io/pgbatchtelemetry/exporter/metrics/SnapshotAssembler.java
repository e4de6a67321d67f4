package io.pgbatchtelemetry.exporter.metrics;

import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.InfoSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Turns a {@link MetricSink} into the Prometheus client's snapshots.
 *
 * <p>The client library wants counter and info names without their {@code _total}/{@code _info}
 * suffix and adds it back when writing the text or OpenMetrics format. Two rows with the same
 * labels (two replicas connecting from one address under one application_name) would make the
 * exposition invalid; the first row wins, which keeps the scrape valid instead of failing it.
 *
 * <p>{@code Labels.of} sorts and validates every name, allocating a UTF-8 encoder per name in
 * client 1.8 (a fifth of all the exporter allocated per scrape). The same label sets come back on
 * every scrape, and the 16 {@code pg_stat_io} families share theirs, so each assembler keeps the
 * {@code Labels} it built, up to {@value #MAX_CACHED} of them (then it starts over: label values
 * are bounded, but a strange workload must not grow memory without end).
 */
public final class SnapshotAssembler {

    private static final int MAX_CACHED = 10_000;

    private record LabelKey(List<String> names, List<String> values) {}

    private final Map<LabelKey, Labels> cache = new ConcurrentHashMap<>();

    public MetricSnapshots assemble(MetricSink sink) {
        if (cache.size() > MAX_CACHED) {
            cache.clear();
        }
        List<MetricSnapshot> snapshots = new ArrayList<>();
        for (Map.Entry<MetricFamily, List<MetricSink.Sample>> entry : sink.samples().entrySet()) {
            snapshots.add(snapshot(entry.getKey(), entry.getValue()));
        }
        return new MetricSnapshots(snapshots);
    }

    private Labels labels(MetricFamily family, MetricSink.Sample sample) {
        return cache.computeIfAbsent(new LabelKey(family.labelNames(), sample.labelValues()),
                key -> Labels.of(key.names(), key.values()));
    }

    private MetricSnapshot snapshot(MetricFamily family, List<MetricSink.Sample> samples) {
        // label names are fixed per family, so equal values mean equal label sets
        Set<List<String>> seen = new HashSet<>();
        switch (family.type()) {
            case COUNTER -> {
                CounterSnapshot.Builder builder = CounterSnapshot.builder()
                        .name(stripSuffix(family.name(), "_total")).help(family.help());
                for (MetricSink.Sample sample : samples) {
                    if (seen.add(sample.labelValues())) {
                        builder.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder()
                                .labels(labels(family, sample)).value(sample.value()).build());
                    }
                }
                return builder.build();
            }
            case GAUGE -> {
                GaugeSnapshot.Builder builder = GaugeSnapshot.builder().name(family.name()).help(family.help());
                for (MetricSink.Sample sample : samples) {
                    if (seen.add(sample.labelValues())) {
                        builder.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                                .labels(labels(family, sample)).value(sample.value()).build());
                    }
                }
                return builder.build();
            }
            case INFO -> {
                InfoSnapshot.Builder builder = InfoSnapshot.builder()
                        .name(stripSuffix(family.name(), "_info")).help(family.help());
                for (MetricSink.Sample sample : samples) {
                    if (seen.add(sample.labelValues())) {
                        builder.dataPoint(InfoSnapshot.InfoDataPointSnapshot.builder().labels(labels(family, sample)).build());
                    }
                }
                return builder.build();
            }
            default -> throw new IllegalStateException("unknown type " + family.type());
        }
    }

    private static String stripSuffix(String name, String suffix) {
        return name.substring(0, name.length() - suffix.length());
    }
}
