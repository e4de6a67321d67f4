package io.pgbatchtelemetry.harness;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The OS account that owns cluster directories and runs the server tools.
 *
 * <p>PostgreSQL refuses to run as root ({@code initdb}, {@code pg_ctl} and {@code postgres} all
 * check), while these build machines run everything as root. So, when the JVM is root, every
 * server tool runs through {@code runuser -u postgres --} and every file the server touches is
 * chowned to {@code postgres}; otherwise the tools run directly as the current user.
 * {@code runuser} (not {@code su}/{@code sudo}) keeps the environment, which is how
 * {@code PGPASSWORD} reaches {@code pg_basebackup} without appearing on a command line.
 */
final class ServerUser {

    static final String POSTGRES_OS_USER = "postgres";

    private ServerUser() {
    }

    static boolean jvmIsRoot() {
        return "root".equals(System.getProperty("user.name"));
    }

    /** The command, run as the server's OS user. */
    static List<String> asServerUser(List<String> command) {
        if (!jvmIsRoot()) {
            return command;
        }
        List<String> wrapped = new ArrayList<>(List.of("runuser", "-u", POSTGRES_OS_USER, "--"));
        wrapped.addAll(command);
        return wrapped;
    }

    /** Gives the path (recursively) to the server's OS user; a no-op when not root. */
    static void giveToServerUser(Path path) {
        if (jvmIsRoot()) {
            Commands.run(List.of("chown", "-R", POSTGRES_OS_USER + ":" + POSTGRES_OS_USER, path.toString()),
                    Map.of(), null, Duration.ofSeconds(60));
        }
    }
}
