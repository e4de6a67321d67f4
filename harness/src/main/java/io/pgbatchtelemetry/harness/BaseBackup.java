package io.pgbatchtelemetry.harness;

import java.nio.file.Path;

/**
 * Copies a running primary into an empty data directory that starts as a streaming standby
 * (with {@code standby.signal}, {@code primary_conninfo} and {@code primary_slot_name} in place),
 * reserving WAL through the given physical replication slot.
 *
 * <p>Two ways, because the zonky archives for 16, 17 and 18 carry no {@code pg_basebackup}, and
 * the only {@code pg_basebackup} here (Debian's 15) refuses newer servers:
 * {@link PgBasebackup} where the version has the tool, {@link FileLevelBackup} (the SQL backup API
 * plus a file copy, which works because primary and standby share one machine) otherwise.
 */
interface BaseBackup {

    void copy(PostgresCluster primary, Path standbyDataDir, String slot);

    static BaseBackup forBinaries(PgBinaries binaries) {
        return binaries.hasTool("pg_basebackup") ? new PgBasebackup() : new FileLevelBackup();
    }
}
