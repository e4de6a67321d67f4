package io.pgbatchtelemetry.exporter.metrics;

import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.InfoSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricMetadata;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
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
 * <p>A family's metadata and label sets are the same from one scrape to the next, and the client
 * validates a name, and sorts and validates label names, each time it builds one ({@code Labels.of}
 * also allocates a UTF-8 encoder per name in client 1.8). So each assembler keeps, per family, the
 * {@code MetricMetadata} and the {@code Labels} of every list of label values it has seen, up to
 * {@value #MAX_LABEL_SETS_PER_FAMILY} (then that family starts over: label values are bounded, but
 * a strange workload must not grow memory without end), and builds data points with the client's
 * constructors rather than a builder per point. Scrapes that overlap may assemble at the same time.
 */
public final class SnapshotAssembler {

    private static final int MAX_LABEL_SETS_PER_FAMILY = 2_000;

    /** What stays the same for a family from one scrape to the next. */
    private record FamilyParts(MetricMetadata metadata, Map<List<String>, Labels> labels) {}

    private final Map<MetricFamily, FamilyParts> families = new ConcurrentHashMap<>();

    /** The samples of all {@code sinks} (one per collector); a family written to several sinks is one family. */
    public MetricSnapshots assemble(List<MetricSink> sinks) {
        Map<MetricFamily, List<MetricSink.Sample>> byFamily = new LinkedHashMap<>();
        MetricSink cuts = new MetricSink();
        for (MetricSink sink : sinks) {
            sink.samples().forEach((family, samples) -> byFamily.merge(family, samples, SnapshotAssembler::concat));
            sink.truncated().forEach((family, n) -> cuts.add(LabelBounds.TRUNCATED, (double) n, family.name()));
            sink.dropped().forEach((family, n) -> cuts.add(LabelBounds.DROPPED, (double) n, family.name()));
        }
        // what was cut, summed per family over the sources (a family with nothing cut has no series)
        cuts.samples().forEach((family, samples) -> byFamily.put(family, sumByLabels(samples)));
        List<MetricSnapshot> snapshots = new ArrayList<>(byFamily.size());
        byFamily.forEach((family, samples) -> snapshots.add(snapshot(family, samples)));
        return new MetricSnapshots(snapshots);
    }

    private static List<MetricSink.Sample> sumByLabels(List<MetricSink.Sample> samples) {
        Map<List<String>, Double> sums = new LinkedHashMap<>();
        samples.forEach(sample -> sums.merge(sample.labelValues(), sample.value(), Double::sum));
        List<MetricSink.Sample> summed = new ArrayList<>(sums.size());
        sums.forEach((labels, value) -> summed.add(new MetricSink.Sample(labels, value)));
        return summed;
    }

    private static List<MetricSink.Sample> concat(List<MetricSink.Sample> first, List<MetricSink.Sample> second) {
        List<MetricSink.Sample> both = new ArrayList<>(first.size() + second.size());
        both.addAll(first);
        both.addAll(second);
        return both;
    }

    private MetricSnapshot snapshot(MetricFamily family, List<MetricSink.Sample> samples) {
        FamilyParts parts = families.computeIfAbsent(family, SnapshotAssembler::partsOf);
        if (parts.labels().size() > MAX_LABEL_SETS_PER_FAMILY) {
            parts.labels().clear();
        }
        // label names are fixed per family, so equal values mean equal label sets
        Set<List<String>> seen = new HashSet<>();
        switch (family.type()) {
            case COUNTER -> {
                List<CounterSnapshot.CounterDataPointSnapshot> points = new ArrayList<>(samples.size());
                for (MetricSink.Sample sample : samples) {
                    if (seen.add(sample.labelValues())) {
                        points.add(new CounterSnapshot.CounterDataPointSnapshot(sample.value(), labels(family, parts, sample), null, 0L));
                    }
                }
                return new CounterSnapshot(parts.metadata(), points);
            }
            case GAUGE -> {
                List<GaugeSnapshot.GaugeDataPointSnapshot> points = new ArrayList<>(samples.size());
                for (MetricSink.Sample sample : samples) {
                    if (seen.add(sample.labelValues())) {
                        points.add(new GaugeSnapshot.GaugeDataPointSnapshot(sample.value(), labels(family, parts, sample), null));
                    }
                }
                return new GaugeSnapshot(parts.metadata(), points);
            }
            case INFO -> {
                List<InfoSnapshot.InfoDataPointSnapshot> points = new ArrayList<>(samples.size());
                for (MetricSink.Sample sample : samples) {
                    if (seen.add(sample.labelValues())) {
                        points.add(new InfoSnapshot.InfoDataPointSnapshot(labels(family, parts, sample)));
                    }
                }
                return new InfoSnapshot(parts.metadata(), points);
            }
            default -> throw new IllegalStateException("unknown type " + family.type());
        }
    }

    private static Labels labels(MetricFamily family, FamilyParts parts, MetricSink.Sample sample) {
        // get, then put: computeIfAbsent with a lambda capturing the family would allocate it per sample
        Labels labels = parts.labels().get(sample.labelValues());
        if (labels == null) {
            labels = Labels.of(family.labelNames(), sample.labelValues());
            parts.labels().put(sample.labelValues(), labels);
        }
        return labels;
    }

    private static FamilyParts partsOf(MetricFamily family) {
        String name = switch (family.type()) {
            case COUNTER -> stripSuffix(family.name(), "_total");
            case INFO -> stripSuffix(family.name(), "_info");
            case GAUGE -> family.name();
        };
        return new FamilyParts(new MetricMetadata(name, family.help()), new ConcurrentHashMap<>());
    }

    private static String stripSuffix(String name, String suffix) {
        return name.substring(0, name.length() - suffix.length());
    }
}
