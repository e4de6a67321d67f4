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
 */
record SessionSample(int pid, String backendType, String waitEventType, String waitEvent,
                     String applicationName, String user, String database,
                     List<Integer> blockedBy, boolean sampled) {

    SessionSample {
        blockedBy = List.copyOf(blockedBy);
    }
}
