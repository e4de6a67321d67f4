package io.pgbatchtelemetry.exporter.sampler;

import java.util.Set;

/**
 * The (wait_event_type, wait_event) a sampled session is in, with being on CPU as its own value.
 *
 * <p>pg_stat_activity leaves wait_event NULL when a process is not waiting: for a session that
 * passed the sampler's filter (active, or a background process not idling in {@code Activity})
 * that means it is running, or runnable and waiting for a CPU of the machine. Both are reported as
 * wait_event_type "CPU", wait_event "CPU", the same convention as Amazon Performance Insights and
 * Oracle ASH ("ON CPU"), so the sum over all wait events is the number of active sessions.
 */
record WaitEventKey(String type, String event) {

    static final String CPU = "CPU";
    static final String OTHER = "other";

    /**
     * PostgreSQL 15-18's wait event types (InjectionPoint is 17+) and CPU. Used to keep the
     * overflow label sets bounded: a type not in this list folds to "other".
     */
    static final Set<String> KNOWN_TYPES = Set.of(CPU, "Activity", "BufferPin", "Client", "Extension",
            "InjectionPoint", "IO", "IPC", "Lock", "LWLock", "Timeout");

    static WaitEventKey of(String waitEventType, String waitEvent) {
        if (waitEventType == null || waitEventType.isEmpty()) {
            return new WaitEventKey(CPU, CPU);
        }
        return new WaitEventKey(waitEventType, waitEvent == null ? "" : waitEvent);
    }

    /** The type as an overflow label: itself when PostgreSQL defines it, "other" otherwise. */
    static String boundedType(String type) {
        return KNOWN_TYPES.contains(type) ? type : OTHER;
    }
}
