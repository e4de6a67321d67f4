package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * Heavyweight locks by database, mode and whether they are granted, from {@code pg_locks}.
 *
 * <p>Serves the lock-contention pattern: a batch stuck behind an {@code AccessExclusiveLock}
 * (a migration, a TRUNCATE, a VACUUM FULL) shows as granted exclusive locks next to locks not
 * granted in the same database.
 *
 * <p>Every one of the eight table-lock modes is emitted as granted true and false for every
 * non-template database and for datname "" (locks without a database: transaction ids, virtual
 * transaction ids, shared catalogs), at 0 when nothing holds it, so series never disappear and
 * alerts see no gaps. A lock in another mode ({@code SIReadLock} of serializable transactions)
 * or in a template database is still counted, without a zero-filled series. The exporter's own
 * locks (taken by this very query) are left out, so an idle server reads all zeros.
 *
 * <p>Versions: {@code pg_locks} has the same columns on PostgreSQL 15–18. The mode label keeps
 * PostgreSQL's spelling ({@code AccessExclusiveLock}), unlike postgres_exporter's lower case,
 * because the series also carry {@code granted}, which postgres_exporter's do not.
 */
public final class LockCollector implements Collector {

    static final MetricFamily LOCKS = MetricFamily.gauge("pg_locks_current",
            "Heavyweight locks by database, mode and granted (pg_locks); datname \"\" for locks without a database.",
            "datname", "mode", "granted");

    private static final VersionedSql COUNTS = VersionedSql.of(15, """
            WITH held AS (
                SELECT coalesce(d.datname::text, '') AS datname, l.mode, l.granted, count(*) AS locks
                  FROM pg_locks l LEFT JOIN pg_database d ON d.oid = l.database
                 WHERE l.pid IS DISTINCT FROM pg_backend_pid()
                 GROUP BY 1, 2, 3),
            every_series AS (
                SELECT db.datname, m.mode, g.granted
                  FROM (SELECT datname::text FROM pg_database WHERE NOT datistemplate
                        UNION ALL SELECT '') db,
                       unnest(ARRAY['AccessShareLock', 'RowShareLock', 'RowExclusiveLock',
                                    'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock',
                                    'ExclusiveLock', 'AccessExclusiveLock']) AS m(mode),
                       (VALUES (true), (false)) AS g(granted))
            SELECT datname, mode, granted, coalesce(h.locks, 0) AS locks
              FROM every_series e FULL JOIN held h USING (datname, mode, granted)
             ORDER BY 1, 2, 3""");

    @Override
    public String name() {
        return "locks";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(LOCKS);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return List.of(COUNTS);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        results.rows(COUNTS, row ->
                sink.add(LOCKS, row.number("locks"),
                        row.text("datname"), row.text("mode"), String.valueOf(row.bool("granted"))));
    }
}
