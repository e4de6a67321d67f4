package io.pgbatchtelemetry.exporter.sampler;

import io.pgbatchtelemetry.exporter.config.ExporterSettings.BatchRule;
import java.util.List;

/**
 * Which configured batch a session belongs to, and the bounded class of a blocking session.
 *
 * <p>A session belongs to the first rule it matches, so the per-batch counters never count a
 * session twice and their sum is at most the whole-server counter.
 *
 * <p>{@code blocker_class} must be a bounded label, so a blocker is never named by its raw
 * application_name (one per worker thread, connection-pool suffixes, hostnames: unbounded). It is:
 * the blocker's batch name when it matches a batch rule; else its backend_type
 * ({@code client backend}, {@code autovacuum worker}, {@code walsender}, an extension's background
 * worker type, ...), a vocabulary fixed by PostgreSQL and the installed extensions; else
 * {@code other}: a prepared transaction (pg_blocking_pids reports it as pid 0), a blocker that ended
 * between the two reads, or one in state {@code idle}, which the query leaves out because an idle
 * session can only block through a session-level advisory lock. Batch names can't collide with these:
 * config rejects "other" and the one-word backend types, and backend types of two words have a space.
 */
final class BatchClassifier {

    static final String OTHER = "other";

    private final List<BatchRule> rules;

    BatchClassifier(List<BatchRule> rules) {
        this.rules = List.copyOf(rules);
    }

    List<BatchRule> rules() {
        return rules;
    }

    /** The batch name of the session, or {@code null} when it belongs to none. */
    String batchOf(SessionSample session) {
        for (BatchRule rule : rules) {
            if (rule.matches(session.applicationName(), session.user(), session.database())) {
                return rule.name();
            }
        }
        return null;
    }

    /** The blocker_class of a blocking session; {@code blocker} is {@code null} when it was not in the sample. */
    String blockerClass(SessionSample blocker) {
        if (blocker == null) {
            return OTHER;
        }
        String batch = batchOf(blocker);
        if (batch != null) {
            return batch;
        }
        String backendType = blocker.backendType();
        return backendType == null || backendType.isEmpty() ? OTHER : backendType;
    }
}
