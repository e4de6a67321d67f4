package io.pgbatchtelemetry.exporter.sampler;

import java.util.List;

/**
 * One row of the sampler's query: a session that counts as load ({@code sampled}), or one that is
 * only there because it may block one (idle in transaction, the exporter's own, the startup
 * process): its identity names the blocker's class.
 *
 * @param applicationName  application_name (a parallel worker carries its leader's)
 * @param user             usename
 * @param database         datname
 * @param blockedBy        pg_blocking_pids() for a session waiting on a heavyweight lock, else empty
 * @param queryId          pg_stat_activity.query_id as text; null when not computed (compute_query_id off,
 *                         a utility statement, no statement yet)
 */
record SessionSample(int pid, String backendType, String waitEventType, String waitEvent,
                     String applicationName, String user, String database,
                     List<Integer> blockedBy, boolean sampled, String queryId) {

    SessionSample {
        blockedBy = List.copyOf(blockedBy);
    }

    /** A session whose statement is not known. */
    SessionSample(int pid, String backendType, String waitEventType, String waitEvent, String applicationName,
                  String user, String database, List<Integer> blockedBy, boolean sampled) {
        this(pid, backendType, waitEventType, waitEvent, applicationName, user, database, blockedBy, sampled, null);
    }
}
