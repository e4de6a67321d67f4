package io.pgbatchtelemetry.exporter.scrape;

import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs changes, not repetitions: the server going down or coming back, a collector starting or
 * stopping to fail. A server that is down for an hour logs one line, not 240.
 */
final class ScrapeLog {

    private static final Logger LOG = LoggerFactory.getLogger("io.pgbatchtelemetry.exporter.scrape");

    private final String server;
    private Boolean lastUp;

    ScrapeLog() {
        this("");
    }

    /** @param target the probe target's name, or empty for the server behind /metrics */
    ScrapeLog(String target) {
        this.server = target.isEmpty() ? "" : " (target " + target + ")";
    }

    private final Map<String, String> failing = new HashMap<>();

    synchronized void record(ScrapeResult result) {
        if (lastUp == null || lastUp != result.up()) {
            if (result.up()) {
                LOG.info("PostgreSQL {}{} is up", result.server().shortVersion(), server);
            } else {
                // the reason tells a wrong CA from a wrong password from a stopped server; pgjdbc's
                // messages name the user and host, never the password
                LOG.warn("PostgreSQL{} is not reachable ({}); serving pg_up 0 and retrying on every scrape", server, result.downReason());
            }
            lastUp = result.up();
        }
        if (!result.up()) {
            return;
        }
        for (CollectorOutcome outcome : result.outcomes()) {
            String previous = failing.get(outcome.collector());
            if (!outcome.success() && previous == null) {
                LOG.warn("collector {}{} failed: {}", outcome.collector(), server, outcome.error());
                failing.put(outcome.collector(), outcome.error());
            } else if (outcome.success() && previous != null) {
                LOG.info("collector {}{} recovered", outcome.collector(), server);
                failing.remove(outcome.collector());
            }
        }
    }
}
