package io.pgbatchtelemetry.exporter.sampler;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.exporter.metrics.SnapshotAssembler;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.List;

/**
 * The sampler's counters as a MultiCollector of its own, next to the one that scrapes PostgreSQL:
 * it only copies memory, so a scrape gets the sampler's numbers even when PostgreSQL or the
 * sampler is stuck.
 */
final class SamplerMetrics implements MultiCollector {

    private final WaitTimeAccumulator accumulator;
    private final SamplerHealth health;
    private final SnapshotAssembler assembler = new SnapshotAssembler();
    private final int maxSeries;

    /** @param maxSeries sampler.max-series: the accumulator folds label sets beyond it, the sink enforces it */
    SamplerMetrics(WaitTimeAccumulator accumulator, SamplerHealth health, int maxSeries) {
        this.accumulator = accumulator;
        this.health = health;
        this.maxSeries = maxSeries;
    }

    @Override
    public MetricSnapshots collect() {
        MetricSink sink = new MetricSink(maxSeries);
        accumulator.writeTo(sink);
        health.writeTo(sink);
        return assembler.assemble(List.of(sink));
    }
}
