package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.SharedReads;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;

/**
 * Replica lag, slot WAL retention and standby state from {@code pg_stat_replication},
 * {@code pg_replication_slots} and {@code pg_stat_wal_receiver}.
 *
 * <p>Serves the replication-lag pattern: a synchronous replica that falls behind slows every
 * commit of the batch, and a slot whose consumer stopped keeps WAL on the primary's disk.
 *
 * <p>Versions: the columns read here are the same on PostgreSQL 15–18, so there is one query per
 * concern; the replicas and slots are the telemetry schema's reads too
 * ({@code sql/src/reads/replication.15.sql}, {@code slots.15.sql}, see {@link SharedReads}). Lag in bytes is measured from "the newest WAL this server has": {@code
 * pg_current_wal_lsn()} on a primary; on a standby (where that function fails, and which may
 * itself feed cascading replicas or hold slots) the greater of the received and the replayed
 * position. A physical slot advances with what its standby flushed, not replayed, so a paused
 * replay shows in {@code replay_lag_bytes} but not in the slot's retained WAL.
 *
 * <p>Labels stay bounded: walsenders are keyed by {@code application_name} and client address
 * (not pid); two walsenders with the same pair are reported as one series carrying the worst
 * lag, so the exposition never has duplicate series. Lag times are NULL while a replica is idle
 * and caught up, and stay absent then, as PostgreSQL reports them.
 */
public final class ReplicationCollector implements Collector {

    static final MetricFamily WRITE_LAG_SECONDS = MetricFamily.gauge("pg_stat_replication_write_lag_seconds",
            "Time until the replica wrote recent WAL (pg_stat_replication.write_lag); absent while idle.",
            "application_name", "client_addr");
    static final MetricFamily FLUSH_LAG_SECONDS = MetricFamily.gauge("pg_stat_replication_flush_lag_seconds",
            "Time until the replica flushed recent WAL (pg_stat_replication.flush_lag); absent while idle.",
            "application_name", "client_addr");
    static final MetricFamily REPLAY_LAG_SECONDS = MetricFamily.gauge("pg_stat_replication_replay_lag_seconds",
            "Time until the replica replayed recent WAL (pg_stat_replication.replay_lag); absent while idle.",
            "application_name", "client_addr");
    static final MetricFamily SENT_LAG_BYTES = MetricFamily.gauge("pg_stat_replication_sent_lag_bytes",
            "WAL bytes not yet sent to the replica (current position - sent_lsn).",
            "application_name", "client_addr");
    static final MetricFamily WRITE_LAG_BYTES = MetricFamily.gauge("pg_stat_replication_write_lag_bytes",
            "WAL bytes the replica has not yet written (current position - write_lsn).",
            "application_name", "client_addr");
    static final MetricFamily FLUSH_LAG_BYTES = MetricFamily.gauge("pg_stat_replication_flush_lag_bytes",
            "WAL bytes the replica has not yet flushed (current position - flush_lsn).",
            "application_name", "client_addr");
    static final MetricFamily REPLAY_LAG_BYTES = MetricFamily.gauge("pg_stat_replication_replay_lag_bytes",
            "WAL bytes the replica has not yet replayed (current position - replay_lsn).",
            "application_name", "client_addr");
    static final MetricFamily WAL_LSN_DIFF = MetricFamily.gauge("pg_stat_replication_pg_wal_lsn_diff",
            "Same as pg_stat_replication_replay_lag_bytes, under postgres_exporter's name.",
            "application_name", "client_addr");
    static final MetricFamily SLOT_RETAINED_WAL_BYTES = MetricFamily.gauge("pg_replication_slot_retained_wal_bytes",
            "WAL bytes the slot keeps on disk (current position - restart_lsn).",
            "slot_name", "slot_type");
    static final MetricFamily SLOT_IS_ACTIVE = MetricFamily.gauge("pg_replication_slot_slot_is_active",
            "1 when a consumer is connected to the slot, else 0.",
            "slot_name", "slot_type");
    static final MetricFamily SLOT_SAFE_WAL_SIZE = MetricFamily.gauge("pg_replication_slot_safe_wal_size_bytes",
            "WAL bytes that can still be written before the slot is lost; absent unless max_slot_wal_keep_size is set.",
            "slot_name", "slot_type");
    static final MetricFamily IS_REPLICA = MetricFamily.gauge("pg_replication_is_replica",
            "1 when the server is a standby (pg_is_in_recovery()), else 0.");
    static final MetricFamily STANDBY_LAG_SECONDS = MetricFamily.gauge("pg_replication_lag_seconds",
            "Standby only: now() - pg_last_xact_replay_timestamp(); 0 when everything received is replayed.");
    static final MetricFamily WAL_RECEIVER_UP = MetricFamily.gauge("pg_stat_wal_receiver_up",
            "Standby only: 1 when a WAL receiver is streaming from the primary, else 0; absent on a primary.");
    static final MetricFamily WAL_RECEIVER_LAST_MSG = MetricFamily.gauge(
            "pg_stat_wal_receiver_last_msg_receipt_timestamp_seconds",
            "Standby only: when the WAL receiver last heard from the primary (Unix time).");

    // Walsenders with the same application_name and address are one series with the worst lag.
    private static final VersionedSql REPLICAS = SharedReads.load("replication").map(read -> """
            SELECT coalesce(r.application_name, '') AS application_name,
                   coalesce(host(r.client_addr), '') AS client_addr,
                   max(extract(epoch FROM r.write_lag)) AS write_lag,
                   max(extract(epoch FROM r.flush_lag)) AS flush_lag,
                   max(extract(epoch FROM r.replay_lag)) AS replay_lag,
                   max(r.sent_lag_bytes) AS sent_lag_bytes, max(r.write_lag_bytes) AS write_lag_bytes,
                   max(r.flush_lag_bytes) AS flush_lag_bytes, max(r.replay_lag_bytes) AS replay_lag_bytes
              FROM (%s) r
             GROUP BY 1, 2""".formatted(read));

    private static final VersionedSql SLOTS = SharedReads.load("slots");

    // postgres_exporter's pg_replication_lag: 0 when the standby replayed all it received,
    // because pg_last_xact_replay_timestamp() stands still while the primary is idle.
    // Run on a standby only: the scrape's probe already said whether this server is one.
    private static final VersionedSql STANDBY = VersionedSql.of(15, """
            SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END AS lag,
                   EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS receiver_up,
                   (SELECT extract(epoch FROM last_msg_receipt_time) FROM pg_stat_wal_receiver) AS last_msg_receipt""");

    @Override
    public String name() {
        return "replication";
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(WRITE_LAG_SECONDS, FLUSH_LAG_SECONDS, REPLAY_LAG_SECONDS, SENT_LAG_BYTES, WRITE_LAG_BYTES,
                FLUSH_LAG_BYTES, REPLAY_LAG_BYTES, WAL_LSN_DIFF, SLOT_RETAINED_WAL_BYTES, SLOT_IS_ACTIVE,
                SLOT_SAFE_WAL_SIZE, IS_REPLICA, STANDBY_LAG_SECONDS, WAL_RECEIVER_UP, WAL_RECEIVER_LAST_MSG);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return server.inRecovery()
                ? List.of(REPLICAS, SLOTS, STANDBY)
                : List.of(REPLICAS, SLOTS);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        results.rows(REPLICAS, row -> {
            String[] replica = {row.text("application_name"), row.text("client_addr")};
            sink.add(WRITE_LAG_SECONDS, row.number("write_lag"), replica);
            sink.add(FLUSH_LAG_SECONDS, row.number("flush_lag"), replica);
            sink.add(REPLAY_LAG_SECONDS, row.number("replay_lag"), replica);
            sink.add(SENT_LAG_BYTES, row.number("sent_lag_bytes"), replica);
            sink.add(WRITE_LAG_BYTES, row.number("write_lag_bytes"), replica);
            sink.add(FLUSH_LAG_BYTES, row.number("flush_lag_bytes"), replica);
            sink.add(REPLAY_LAG_BYTES, row.number("replay_lag_bytes"), replica);
            sink.add(WAL_LSN_DIFF, row.number("replay_lag_bytes"), replica);
        });
        results.rows(SLOTS, row -> {
            String[] slot = {row.text("slot_name"), row.text("slot_type")};
            sink.add(SLOT_RETAINED_WAL_BYTES, row.number("retained_bytes"), slot);
            sink.add(SLOT_IS_ACTIVE, row.boolAsNumber("active"), slot);
            sink.add(SLOT_SAFE_WAL_SIZE, row.number("safe_wal_size"), slot);
        });
        sink.add(IS_REPLICA, results.server().inRecovery());
        if (!results.server().inRecovery()) {
            return;
        }
        results.one(STANDBY, row -> {
            sink.add(STANDBY_LAG_SECONDS, row.number("lag"));
            sink.add(WAL_RECEIVER_UP, row.boolAsNumber("receiver_up"));
            sink.add(WAL_RECEIVER_LAST_MSG, row.number("last_msg_receipt"));
        });
    }
}
