package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.PgSession;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * Sessions by type and state, the oldest open transaction and lock waits, from
 * {@code pg_stat_activity} and {@code pg_locks}.
 *
 * <p>Serves the lock-contention pattern (who waits, for how long, and whether someone blocks
 * them; a session idle in transaction keeps its locks) and the autovacuum pattern (an old
 * transaction holds back cleanup). Blockers come from
 * {@code pg_blocking_pids()}, which knows the exact lock queue; it is only called for sessions
 * already waiting on a lock, so an idle server pays nothing for it.
 *
 * <p>Versions: the columns read here (including {@code pg_locks.waitstart}, PostgreSQL 14+) are
 * the same on 15–18. The exporter's own backend is excluded (it is always "active" while it
 * scrapes), but its other pooled connections are counted: they are real connections.
 *
 * <p>Labels stay bounded: no pid, user, application or query text. Client backends get a series
 * for every regular state even at 0, so an alert on "idle in transaction" sees a value rather
 * than a gap; other process types appear when they exist, with state "" for background processes.
 */
public final class ActivityCollector implements Collector {

    static final MetricFamily SESSIONS = MetricFamily.gauge("pg_stat_activity_sessions",
            "Server processes by backend_type and state (pg_stat_activity); state is \"\" for background processes.",
            "backend_type", "state");
    static final MetricFamily OLDEST_TRANSACTION_AGE = MetricFamily.gauge("pg_oldest_transaction_age_seconds",
            "Age of the oldest open transaction of a client backend (now() - xact_start); 0 when none.");
    static final MetricFamily IDLE_IN_TRANSACTION_MAX = MetricFamily.gauge("pg_idle_in_transaction_max_seconds",
            "Longest time a client backend has been idle in transaction (now() - state_change); 0 when none.");
    static final MetricFamily LOCK_WAITING_SESSIONS = MetricFamily.gauge("pg_lock_waiting_sessions",
            "Sessions waiting on a heavyweight lock (wait_event_type = 'Lock').");
    static final MetricFamily LOCK_WAIT_MAX = MetricFamily.gauge("pg_lock_wait_max_seconds",
            "Longest current wait for a lock (now() - min(pg_locks.waitstart) over locks not granted); 0 when none.");
    static final MetricFamily BLOCKED_SESSIONS = MetricFamily.gauge("pg_blocked_sessions",
            "Sessions waiting on a lock that another session holds (cardinality(pg_blocking_pids(pid)) > 0).");

    // One statement, one read of pg_stat_activity: the session counts (always at least the four
    // client states), each row carrying the same lock and transaction figures, read from the first.
    private static final VersionedSql ACTIVITY = VersionedSql.of(15, """
            WITH activity AS MATERIALIZED (
                SELECT pid, backend_type, coalesce(state, '') AS state, wait_event_type, xact_start, state_change
                  FROM pg_stat_activity
                 WHERE pid <> pg_backend_pid()),
            sessions AS (
                SELECT backend_type, state, count(*) AS sessions FROM activity GROUP BY 1, 2),
            client_states AS (
                SELECT 'client backend' AS backend_type, state
                  FROM unnest(ARRAY['active', 'idle', 'idle in transaction',
                                    'idle in transaction (aborted)']) AS state),
            lock_waiters AS (
                SELECT pid FROM activity WHERE wait_event_type = 'Lock'),
            waits AS (
                SELECT coalesce((SELECT extract(epoch FROM now() - min(xact_start))
                                   FROM activity WHERE backend_type = 'client backend'), 0)
                           AS oldest_transaction_age,
                       coalesce((SELECT extract(epoch FROM now() - min(state_change))
                                   FROM activity WHERE backend_type = 'client backend'
                                    AND state LIKE 'idle in transaction%'), 0) AS idle_in_transaction_max,
                       (SELECT count(*) FROM lock_waiters) AS lock_waiting_sessions,
                       (SELECT count(*) FROM lock_waiters
                         WHERE cardinality(pg_blocking_pids(pid)) > 0) AS blocked_sessions,
                       -- pg_locks copies the whole lock table (thousands of rows under a big batch):
                       -- read it only when somebody waits for a lock
                       CASE WHEN EXISTS (SELECT 1 FROM lock_waiters)
                            THEN coalesce((SELECT extract(epoch FROM now() - min(waitstart))
                                             FROM pg_locks WHERE NOT granted), 0)
                            ELSE 0 END AS lock_wait_max)
            SELECT backend_type, state, coalesce(s.sessions, 0) AS sessions, w.*
              FROM sessions s FULL JOIN client_states c USING (backend_type, state)
             CROSS JOIN waits w""");

    @Override
    public String name() {
        return "activity";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(SESSIONS, OLDEST_TRANSACTION_AGE, IDLE_IN_TRANSACTION_MAX, LOCK_WAITING_SESSIONS, LOCK_WAIT_MAX, BLOCKED_SESSIONS);
    }

    @Override
    public List<String> statements(PgServer server) {
        return List.of(ACTIVITY.forServer(server));
    }

    @Override
    public void collect(PgSession session, MetricSink sink) throws SQLException {
        session.query(ACTIVITY.forServer(session.server()), row -> {
            sink.add(SESSIONS, row.number("sessions"), row.text("backend_type"), row.text("state"));
            if (row.first()) {
                sink.add(OLDEST_TRANSACTION_AGE, row.number("oldest_transaction_age"));
                sink.add(IDLE_IN_TRANSACTION_MAX, row.number("idle_in_transaction_max"));
                sink.add(LOCK_WAITING_SESSIONS, row.number("lock_waiting_sessions"));
                sink.add(LOCK_WAIT_MAX, row.number("lock_wait_max"));
                sink.add(BLOCKED_SESSIONS, row.number("blocked_sessions"));
            }
        });
    }
}
