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

/**
 * Turns a {@link MetricSink} into the Prometheus client's snapshots.
 *
 * <p>The client library wants counter and info names without their {@code _total}/{@code _info}
 * suffix and adds it back when writing the text or OpenMetrics format. Two rows with the same
 * labels (two replicas connecting from one address under one application_name) would make the
 * exposition invalid; the first row wins, which keeps the scrape valid instead of failing it.
 */
public final class SnapshotAssembler {

    private SnapshotAssembler() {}

    public static MetricSnapshots assemble(MetricSink sink) {
        List<MetricSnapshot> snapshots = new ArrayList<>();
        for (Map.Entry<MetricFamily, List<MetricSink.Sample>> entry : sink.samples().entrySet()) {
            snapshots.add(snapshot(entry.getKey(), entry.getValue()));
        }
        return new MetricSnapshots(snapshots);
    }

    private static MetricSnapshot snapshot(MetricFamily family, List<MetricSink.Sample> samples) {
        Set<Labels> seen = new HashSet<>();
        switch (family.type()) {
            case COUNTER -> {
                CounterSnapshot.Builder builder = CounterSnapshot.builder()
                        .name(stripSuffix(family.name(), "_total")).help(family.help());
                for (MetricSink.Sample sample : samples) {
                    Labels labels = Labels.of(family.labelNames(), sample.labelValues());
                    if (seen.add(labels)) {
                        builder.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder()
                                .labels(labels).value(sample.value()).build());
                    }
                }
                return builder.build();
            }
            case GAUGE -> {
                GaugeSnapshot.Builder builder = GaugeSnapshot.builder().name(family.name()).help(family.help());
                for (MetricSink.Sample sample : samples) {
                    Labels labels = Labels.of(family.labelNames(), sample.labelValues());
                    if (seen.add(labels)) {
                        builder.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                                .labels(labels).value(sample.value()).build());
                    }
                }
                return builder.build();
            }
            case INFO -> {
                InfoSnapshot.Builder builder = InfoSnapshot.builder()
                        .name(stripSuffix(family.name(), "_info")).help(family.help());
                for (MetricSink.Sample sample : samples) {
                    Labels labels = Labels.of(family.labelNames(), sample.labelValues());
                    if (seen.add(labels)) {
                        builder.dataPoint(InfoSnapshot.InfoDataPointSnapshot.builder().labels(labels).build());
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
