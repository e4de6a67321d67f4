package io.pgbatchtelemetry.exporter.db;

/**
 * What a collector needs to know about the server it reads: the version (to pick the SQL that
 * matches that version's views) and whether it is a standby (where {@code pg_current_wal_lsn()}
 * fails and the receive/replay positions are the ones that matter).
 *
 * @param versionNum  {@code server_version_num}, e.g. 170007
 * @param inRecovery  {@code pg_is_in_recovery()}
 * @param version     {@code version()} text, for pg_static
 */
public record PgServer(int versionNum, boolean inRecovery, String version) {

    public int major() {
        return versionNum / 10000;
    }

    /** "17.7" from 170007. */
    public String shortVersion() {
        return major() + "." + (versionNum % 10000);
    }

    public boolean atLeast(int major) {
        return major() >= major;
    }
}
