package io.pgbatchtelemetry.exporter.collector;

import java.time.Duration;

/**
 * What configures the collectors beyond on/off: how stale the slow reads may be.
 *
 * @param databaseSizeInterval how old the served {@code pg_database_size()} values may be
 *                             ({@code scrape.database-size-interval}); zero reads them every scrape
 */
public record CollectorOptions(Duration databaseSizeInterval) {

    /** Every read on every scrape: what {@code 0s} in config means, and what tests use. */
    public static final CollectorOptions UNCACHED = new CollectorOptions(Duration.ZERO);
}
