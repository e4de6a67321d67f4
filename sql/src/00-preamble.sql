-- pg-batch-telemetry: the `telemetry` schema (PostgreSQL 15, 16, 17, 18).
--
--   psql -v ON_ERROR_STOP=1 -d <db> -f sql/install.sql
--
-- Re-running this script over an existing install upgrades it in place: data tables are
-- created only if missing (new columns are added with ADD COLUMN IF NOT EXISTS), while all
-- code (functions, views, types) is dropped and recreated, so the code always matches this file.
-- See docs/telemetry-schema.md for the API, the privileges and the diagnose() thresholds.
--
-- Built from sql/src/*.sql (in file-name order) by sql/build.sh: edit those files, then run it.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DO $pre$
BEGIN
  IF current_setting('server_version_num')::int < 150000 THEN
    RAISE EXCEPTION 'pg-batch-telemetry needs PostgreSQL 15 or newer (this is %)', current_setting('server_version');
  END IF;
END
$pre$;

BEGIN;

CREATE SCHEMA IF NOT EXISTS telemetry;
REVOKE ALL ON SCHEMA telemetry FROM PUBLIC;

-- Roles: readers query history; writers may also collect and mark batch runs.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'telemetry_reader') THEN
    CREATE ROLE telemetry_reader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'telemetry_writer') THEN
    CREATE ROLE telemetry_writer NOLOGIN;
  END IF;
  GRANT telemetry_reader TO telemetry_writer;
  -- monitoring accounts (pg_monitor) can read the history without further grants
  GRANT telemetry_reader TO pg_monitor;
END
$roles$;

-- Drop every piece of code (never data) so that this file is the single definition.
DO $dropcode$
DECLARE
  v text;
BEGIN
  -- names are collected first: a CASCADE below may already have dropped a later object
  FOREACH v IN ARRAY coalesce((SELECT array_agg(format('%I.%I', 'telemetry', c.relname)) FROM pg_class c
                                WHERE c.relnamespace = 'telemetry'::regnamespace AND c.relkind = 'v'), '{}') LOOP
    EXECUTE format('DROP VIEW IF EXISTS %s CASCADE', v);
  END LOOP;
  FOREACH v IN ARRAY coalesce((SELECT array_agg(format('%s %s', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                                                       p.oid::regprocedure)) FROM pg_proc p
                                WHERE p.pronamespace = 'telemetry'::regnamespace), '{}') LOOP
    EXECUTE format('DROP %s CASCADE', regexp_replace(v, '^(FUNCTION|PROCEDURE) ', '\1 IF EXISTS '));
  END LOOP;
  FOREACH v IN ARRAY coalesce((SELECT array_agg(format('%I.%I', 'telemetry', t.typname)) FROM pg_type t
                                WHERE t.typnamespace = 'telemetry'::regnamespace AND t.typtype = 'c'
                                  AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')), '{}') LOOP
    EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', v);
  END LOOP;
END
$dropcode$;

