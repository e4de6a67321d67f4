package io.pgbatchtelemetry.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Set;

/**
 * A base backup the way the documentation's "low level API" describes it: {@code pg_backup_start}
 * (PostgreSQL 15+ name) on a session that stays open, a file copy of the data directory,
 * {@code pg_backup_stop}, and its {@code labelfile} written as {@code backup_label}. The copy
 * leaves out what {@code pg_basebackup} leaves out (WAL, which the standby streams through the
 * slot instead; runtime state; the pid file). Then {@code standby.signal} and the connection
 * settings that {@code pg_basebackup -R} would write.
 */
final class FileLevelBackup implements BaseBackup {

    /** Directories whose contents a base backup skips (their empty directory must exist). */
    private static final Set<String> SKIP_CONTENTS = Set.of("pg_wal", "pg_stat_tmp", "pg_replslot", "pg_dynshmem",
            "pg_notify", "pg_serial", "pg_snapshots", "pg_subtrans");
    private static final Set<String> SKIP_FILES = Set.of("postmaster.pid", "postmaster.opts", "pg_internal.init",
            "backup_label", "tablespace_map", "current_logfiles", "backup_manifest", "standby.signal",
            "recovery.signal");

    @Override
    public void copy(PostgresCluster primary, Path standbyDataDir, String slot) {
        try (Connection connection = primary.connect(); Statement statement = connection.createStatement()) {
            statement.execute("SELECT pg_backup_start(" + ServerConfig.quote("pgbt " + standbyDataDir) + ", true)");
            copyDataDirectory(primary.dataDir(), standbyDataDir);
            try (ResultSet stop = statement.executeQuery("SELECT labelfile, spcmapfile FROM pg_backup_stop(false)")) {
                stop.next();
                Files.writeString(standbyDataDir.resolve("backup_label"), stop.getString("labelfile"));
                String tablespaceMap = stop.getString("spcmapfile");
                if (tablespaceMap != null && !tablespaceMap.isEmpty()) {
                    Files.writeString(standbyDataDir.resolve("tablespace_map"), tablespaceMap);
                }
            }
            // what pg_basebackup -R appends; application_name defaults to the standby's cluster_name
            Files.writeString(standbyDataDir.resolve("postgresql.auto.conf"),
                    "primary_conninfo = " + ServerConfig.quote("host=" + primary.host() + " port=" + primary.port()
                            + " user=" + primary.superuser() + " password=" + primary.superuserPassword()) + "\n"
                            + "primary_slot_name = " + ServerConfig.quote(slot) + "\n",
                    StandardOpenOption.APPEND);
            Files.writeString(standbyDataDir.resolve("standby.signal"), "");
        } catch (SQLException e) {
            throw new HarnessException("base backup of PostgreSQL " + primary.majorVersion() + " cluster '"
                    + primary.name() + "' failed: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("base backup into " + standbyDataDir + " failed", e);
        }
        ServerUser.giveToServerUser(standbyDataDir);
    }

    private static void copyDataDirectory(Path source, Path target) throws IOException {
        Files.walkFileTree(source, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                if (dir.getFileName().toString().startsWith("pgsql_tmp")) {
                    return FileVisitResult.SKIP_SUBTREE; // temporary files of running queries
                }
                Path copy = target.resolve(source.relativize(dir).toString());
                Files.createDirectories(copy);
                Files.setPosixFilePermissions(copy, Files.getPosixFilePermissions(dir));
                boolean skipContents = SKIP_CONTENTS.contains(dir.getFileName().toString()) && !dir.equals(source);
                if (skipContents && dir.getFileName().toString().equals("pg_wal")) {
                    // keep pg_wal's subdirectories (archive_status, and summaries on 17+), not its segments
                    try (var children = Files.list(dir)) {
                        for (Path child : (Iterable<Path>) children.filter(Files::isDirectory)::iterator) {
                            Files.createDirectories(copy.resolve(child.getFileName().toString()),
                                    PosixFilePermissions.asFileAttribute(Files.getPosixFilePermissions(child)));
                        }
                    }
                }
                return skipContents ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                String name = file.getFileName().toString();
                // sockets and their lock files live here too (unix_socket_directories = data dir)
                if (!attrs.isRegularFile() || SKIP_FILES.contains(name) || name.startsWith("pgsql_tmp")
                        || name.startsWith(".s.PGSQL.")) {
                    return FileVisitResult.CONTINUE;
                }
                try {
                    Files.copy(file, target.resolve(source.relativize(file).toString()),
                            StandardCopyOption.COPY_ATTRIBUTES);
                } catch (NoSuchFileException vanished) {
                    // dropped while copying: WAL replay recreates whatever the standby needs
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
                if (exc instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE;
                }
                throw exc;
            }
        });
    }
}
