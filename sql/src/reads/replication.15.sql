-- Replicas streaming from this server and how far behind they are, the same on PostgreSQL 15+. The
-- lag in bytes is measured from the newest WAL this server has: written, on a primary; received or
-- replayed, on a standby feeding cascading replicas (where pg_current_wal_lsn() fails).
-- columns: pid, application_name, client_addr, state, sync_state, sent_lsn, write_lsn, flush_lsn, replay_lsn,
--          write_lag, flush_lag, replay_lag (intervals), sent_lag_bytes, write_lag_bytes, flush_lag_bytes, replay_lag_bytes
SELECT r.pid, r.application_name, r.client_addr, r.state, r.sync_state,
       r.sent_lsn, r.write_lsn, r.flush_lsn, r.replay_lsn, r.write_lag, r.flush_lag, r.replay_lag,
       p.newest - r.sent_lsn AS sent_lag_bytes, p.newest - r.write_lsn AS write_lag_bytes,
       p.newest - r.flush_lsn AS flush_lag_bytes, p.newest - r.replay_lsn AS replay_lag_bytes
  FROM pg_stat_replication r,
       (SELECT CASE WHEN pg_is_in_recovery() THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                    ELSE pg_current_wal_lsn() END AS newest) p
