package io.pgbatchtelemetry.exporter.sampler;

import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.time.Duration;

/**
 * The sampler's own counters: samples, errors, missed ticks, time covered, last sample.
 * Written by the sampler thread, read by scrapes; a plain lock is enough at one write per tick.
 */
final class SamplerHealth {

    private final double intervalSeconds;
    private long samples;
    private long errors;
    private long missedTicks;
    private double coveredSeconds;
    private Double lastDurationSeconds;
    private Double lastSampleEpochSeconds;

    SamplerHealth(Duration interval) {
        this.intervalSeconds = interval.toNanos() / 1e9;
    }

    synchronized void sampled(double weightSeconds, long durationNanos, long epochMillis) {
        samples++;
        coveredSeconds += weightSeconds;
        lastDurationSeconds = durationNanos / 1e9;
        lastSampleEpochSeconds = epochMillis / 1000.0;
    }

    synchronized void failed() {
        errors++;
    }

    synchronized void missed(long ticks) {
        missedTicks += ticks;
    }

    synchronized long samples() {
        return samples;
    }

    synchronized long errors() {
        return errors;
    }

    synchronized void writeTo(MetricSink sink) {
        sink.add(SamplerFamilies.SAMPLES, samples);
        sink.add(SamplerFamilies.ERRORS, errors);
        sink.add(SamplerFamilies.MISSED_TICKS, missedTicks);
        sink.add(SamplerFamilies.COVERED_SECONDS, coveredSeconds);
        sink.add(SamplerFamilies.INTERVAL, intervalSeconds);
        sink.add(SamplerFamilies.SAMPLE_DURATION, lastDurationSeconds);
        sink.add(SamplerFamilies.LAST_SAMPLE, lastSampleEpochSeconds);
    }
}
