package io.pgbatchtelemetry.exporter.collector;

import java.time.Duration;

/**
 * What configures the collectors beyond on/off: how stale the slow reads may be, and how many
 * statements get series.
 *
 * @param databaseSizeInterval   how old the served {@code pg_database_size()} values may be
 *                               ({@code scrape.database-size-interval}); zero reads them every scrape
 * @param statementsTop          the most statements with series ({@code statements.top})
 * @param statementsPreviewChars length of the opt-in query preview ({@code statements.query-preview-chars}; 0 = none)
 * @param statementsInterval     how old the served pg_stat_statements counters may be ({@code statements.interval})
 */
public record CollectorOptions(Duration databaseSizeInterval, int statementsTop, int statementsPreviewChars,
                               Duration statementsInterval) {

    /** Every read on every scrape: what {@code 0s} in config means, and what tests use. */
    public static final CollectorOptions UNCACHED = new CollectorOptions(Duration.ZERO, 20, 0, Duration.ZERO);
}
