package io.pgbatchtelemetry.exporter.scrape;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.time.Duration;

/**
 * What one collector produced in one scrape.
 *
 * @param sink  its samples; empty when it failed (a half-collected view would mislead)
 * @param error why it failed, for the log; {@code null} on success
 */
public record CollectorOutcome(String collector, boolean success, Duration duration, MetricSink sink, String error) {

    static CollectorOutcome succeeded(String collector, Duration duration, MetricSink sink) {
        return new CollectorOutcome(collector, true, duration, sink, null);
    }

    static CollectorOutcome failed(String collector, Duration duration, String error) {
        return new CollectorOutcome(collector, false, duration, new MetricSink(), error);
    }
}
