-- pg-batch-telemetry: the least-privileged role for the exporter and for reading telemetry history.
--
--   psql -v ON_ERROR_STOP=1 -d postgres -f sql/monitoring-role.sql                 # role pgbt_monitor
--   psql -v ON_ERROR_STOP=1 -d postgres -v role=my_monitor -f sql/monitoring-role.sql
--
-- Run it as a superuser (or a role with CREATEROLE that holds pg_monitor WITH ADMIN), in every
-- database that has the telemetry schema, and again after installing sql/install.sql there. It is
-- idempotent and never sets or changes a password: give one afterwards with \password pgbt_monitor
-- (psql sends a SCRAM verifier, the password never reaches the server log), or log in with a client
-- certificate (docs/operations.md).
--
-- What the role gets, and nothing else:
--   * LOGIN, and no SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS;
--   * pg_monitor: pg_read_all_stats (every session's query and wait event), pg_read_all_settings,
--     pg_stat_scan_tables. Everything the exporter's collectors and its wait-event sampler read.
--     It does NOT include pg_read_all_data: the role cannot read the rows of any table;
--   * CONNECT on this database (in case CONNECT was revoked from PUBLIC);
--   * when the telemetry schema is installed here: telemetry_reader (USAGE on the schema, SELECT on
--     its history tables, EXECUTE on the read functions compare, diagnose, wait_summary, ...), which
--     sql/install.sql defines. The collecting functions (snapshot, sample, cleanup, track_table,
--     batch_start/end) stay with telemetry_writer;
--   * a connection limit of 10 (the exporter opens at most 3 per server, its sampler 1);
--   * settings ON the role (ALTER ROLE ... SET, in effect from its next login):
--       temp_file_limit = 100MB   a query of the role spills at most this much to disk; only a superuser
--                                 may change it, so the role cannot raise it (set when this script runs as
--                                 a superuser; a NOTICE says when it could not be);
--       statement_timeout = 60s, idle_in_transaction_session_timeout = 60s, lock_timeout = 10s,
--       default_transaction_read_only = on
--                                 defaults against mistakes (a DBA's psql session as this role, a stuck
--                                 client holding back vacuum); the role may SET them otherwise in its own
--                                 session, so they are not a boundary. The exporter sets its own shorter
--                                 timeouts per session.
--   What a stolen password can still do is in docs/operations.md ("Threat model"): read every session's
--   query text and every statistic, read the telemetry history, create temporary tables in its own session
--   (PUBLIC has TEMPORARY on a database unless the DBA revokes it), run queries up to the limits above.
-- The role cannot create objects in schema public either: PostgreSQL 15+ no longer grants CREATE on
-- it to PUBLIC (on a database upgraded from an older version, run REVOKE CREATE ON SCHEMA public FROM PUBLIC).

\set ON_ERROR_STOP 1
\if :{?role}
\else
  \set role pgbt_monitor
\endif
SET client_min_messages = notice;
-- psql does not interpolate variables inside dollar quotes: hand the name over as a setting
SELECT set_config('pgbt.monitoring_role', :'role', false) AS monitoring_role \gset

DO $role$
DECLARE
  v_role text := current_setting('pgbt.monitoring_role');
BEGIN
  IF v_role !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'role name % must be a plain lower-case identifier', v_role;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = v_role) THEN
    EXECUTE format('CREATE ROLE %I LOGIN', v_role);
    RAISE NOTICE 'created role %; set its password with \password %', v_role, v_role;
  END IF;
  EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 10', v_role);
  EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', v_role);
  EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', v_role, '60s');
  EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', v_role, '60s');
  EXECUTE format('ALTER ROLE %I SET lock_timeout = %L', v_role, '10s');
  BEGIN
    EXECUTE format('ALTER ROLE %I SET temp_file_limit = %L', v_role, '100MB');
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'only a superuser can set temp_file_limit on %: run this script as one to bound its temporary files', v_role;
  END;
  EXECUTE format('GRANT pg_monitor TO %I', v_role);
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), v_role);

  IF to_regnamespace('telemetry') IS NULL THEN
    RAISE NOTICE 'no telemetry schema in database %: % can run the exporter; run this script again after sql/install.sql',
      current_database(), v_role;
  ELSIF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'telemetry_reader') THEN
    RAISE EXCEPTION 'schema telemetry exists but role telemetry_reader does not: re-run sql/install.sql, then this script';
  ELSE
    EXECUTE format('GRANT telemetry_reader TO %I', v_role);
    RAISE NOTICE '% can read telemetry in database %', v_role, current_database();
  END IF;
END
$role$;

RESET pgbt.monitoring_role;
