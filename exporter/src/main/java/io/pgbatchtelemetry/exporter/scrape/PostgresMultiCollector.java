package io.pgbatchtelemetry.exporter.scrape;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import io.pgbatchtelemetry.exporter.metrics.SnapshotAssembler;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.ArrayList;
import java.util.List;

/**
 * The bridge to the Prometheus client: each HTTP scrape asks the coordinator for one scrape of
 * PostgreSQL and hands back collector samples plus the self metrics.
 */
public final class PostgresMultiCollector implements MultiCollector {

    private final ScrapeCoordinator coordinator;
    private final SelfMetrics selfMetrics;
    private final SnapshotAssembler assembler = new SnapshotAssembler();

    public PostgresMultiCollector(ScrapeCoordinator coordinator, SelfMetrics selfMetrics) {
        this.coordinator = coordinator;
        this.selfMetrics = selfMetrics;
    }

    @Override
    public MetricSnapshots collect() {
        ScrapeResult result = coordinator.scrape();
        List<MetricSink> sinks = new ArrayList<>(result.outcomes().size() + 1);
        MetricSink self = new MetricSink();
        selfMetrics.write(result, self);
        sinks.add(self);
        for (CollectorOutcome outcome : result.outcomes()) {
            sinks.add(outcome.sink());
        }
        return assembler.assemble(sinks);
    }
}
