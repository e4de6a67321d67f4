package io.pgbatchtelemetry.exporter.sampler;

import java.util.List;

/**
 * One row of the sampler's query: a session that counts as load ({@code sampled}), or one that
 * only appears because it blocks a sampled session (its identity names the blocker's class).
 *
 * @param applicationName  for a parallel worker, its leader's (the worker's own is the leader's
 *                         work, and batch rules are written against the leader)
 * @param user             usename, the leader's for a parallel worker
 * @param database         datname, the leader's for a parallel worker
 * @param blockedBy        pg_blocking_pids() for a session waiting on a heavyweight lock, else empty
 */
record SessionSample(int pid, String backendType, String waitEventType, String waitEvent,
                     String applicationName, String user, String database,
                     List<Integer> blockedBy, boolean sampled) {

    SessionSample {
        blockedBy = List.copyOf(blockedBy);
    }
}
