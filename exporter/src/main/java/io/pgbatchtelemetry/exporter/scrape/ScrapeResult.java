package io.pgbatchtelemetry.exporter.scrape;

import io.pgbatchtelemetry.exporter.db.PgServer;
import java.time.Duration;
import java.util.List;

/**
 * One finished (or deadline-cut) scrape of PostgreSQL.
 *
 * @param up          whether the server answered the version probe
 * @param server      the server that answered, or {@code null} when down
 * @param outcomes    one per enabled collector, in catalog order
 * @param duration    wall time of the scrape as the caller saw it
 * @param downReason  when down, the driver's first line about why (no password in it), else {@code null}
 */
public record ScrapeResult(boolean up, PgServer server, List<CollectorOutcome> outcomes, Duration duration, String downReason) {

    public ScrapeResult {
        outcomes = List.copyOf(outcomes);
    }

    public ScrapeResult(boolean up, PgServer server, List<CollectorOutcome> outcomes, Duration duration) {
        this(up, server, outcomes, duration, null);
    }
}
