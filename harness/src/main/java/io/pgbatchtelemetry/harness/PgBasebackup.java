package io.pgbatchtelemetry.harness;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * {@code pg_basebackup -R -X stream -S <slot>} over loopback TCP with the superuser's password in
 * {@code PGPASSWORD} (never on the command line). {@code -R} writes {@code standby.signal},
 * {@code primary_conninfo} (libpq includes the password it used) and {@code primary_slot_name}.
 */
final class PgBasebackup implements BaseBackup {

    private static final Duration TIMEOUT = Duration.ofMinutes(5);

    @Override
    public void copy(PostgresCluster primary, Path standbyDataDir, String slot) {
        String conninfo = "host=" + primary.host() + " port=" + primary.port() + " user=" + primary.superuser();
        Commands.run(ServerUser.asServerUser(List.of(
                        primary.binaries().tool("pg_basebackup").toString(),
                        "-D", standbyDataDir.toString(),
                        "-R", "-X", "stream", "-S", slot,
                        "--checkpoint=fast", "--no-sync",
                        "-d", conninfo)),
                Map.of("PGPASSWORD", primary.superuserPassword()), standbyDataDir.getParent(), TIMEOUT);
    }
}
