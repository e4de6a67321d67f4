-- Replication slots and the WAL each keeps, the same on PostgreSQL 15+, measured from the newest WAL
-- this server has (as for replicas: written on a primary, received or replayed on a standby).
-- columns: slot_name, slot_type, active, safe_wal_size, restart_lsn, retained_bytes
SELECT s.slot_name, s.slot_type, s.active, s.safe_wal_size, s.restart_lsn,
       p.newest - s.restart_lsn AS retained_bytes
  FROM pg_replication_slots s,
       (SELECT CASE WHEN pg_is_in_recovery() THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                    ELSE pg_current_wal_lsn() END AS newest) p
