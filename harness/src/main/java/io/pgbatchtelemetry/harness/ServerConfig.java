package io.pgbatchtelemetry.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The configuration files the harness owns in a data directory.
 *
 * <p>{@code postgresql.conf} gets one {@code include 'pgbt.conf'} line at its end, and
 * {@code pgbt.conf} holds everything the harness sets. The port and socket directory live there
 * too, so a new port after a bind collision, or a standby cloned from its primary, only rewrites
 * that small file. {@code ALTER SYSTEM} (see {@link PostgresCluster#setSetting}) still wins, as
 * {@code postgresql.auto.conf} is read last.
 *
 * <p>fsync stays on: the project measures checkpoint and WAL timing, which fsync=off would fake.
 */
final class ServerConfig {

    static final String HARNESS_CONF = "pgbt.conf";

    private static final Pattern SETTING_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z0-9_]+)?");

    /** Loopback TCP needs a password (scram); the local socket in the data directory is trusted. */
    private static final String PG_HBA = """
            # written by pg-harness: loopback only, passwords on TCP, trust on the private socket
            local   all          all                    trust
            local   replication  all                    trust
            host    all          all   127.0.0.1/32     scram-sha-256
            host    replication  all   127.0.0.1/32     scram-sha-256
            """;

    private ServerConfig() {
    }

    static void validateName(String setting) {
        if (!SETTING_NAME.matcher(setting).matches()) {
            throw new IllegalArgumentException("not a PostgreSQL setting name: '" + setting + "'");
        }
    }

    /** A single-quoted configuration/SQL string literal. */
    static String quote(String value) {
        return "'" + value.replace("'", "''") + "'";
    }

    /** Called once after initdb. */
    static void prepare(Path dataDir) {
        write(dataDir.resolve("pg_hba.conf"), PG_HBA, false);
        write(dataDir.resolve("postgresql.conf"), "\ninclude '" + HARNESS_CONF + "'\n", true);
    }

    /** (Re)writes pgbt.conf for this cluster's spec, port and socket directory. */
    static void writeHarnessConf(Path dataDir, ClusterSpec spec, int port) {
        Map<String, String> conf = new LinkedHashMap<>();
        conf.put("listen_addresses", "127.0.0.1");
        conf.put("port", Integer.toString(port));
        conf.put("unix_socket_directories", dataDir.toString());
        conf.put("cluster_name", spec.name());
        conf.put("max_connections", "300");
        conf.put("track_io_timing", "on");
        conf.put("track_wal_io_timing", "on");
        conf.put("log_min_messages", "warning");
        conf.put("logging_collector", "off");
        if (spec.preloadPgCron()) {
            conf.put("shared_preload_libraries", "pg_cron");
            conf.put("cron.database_name", "postgres");
            // pg_cron's default runs each job over libpq to cron.host (localhost), where the harness
            // asks for a scram password that pg_cron does not have: every job would fail with
            // "connection failed". Background workers need no connection; they count against
            // max_worker_processes (default 8, shared with parallel query), hence the headroom.
            conf.put("cron.use_background_workers", "on");
            conf.put("max_worker_processes", "16");
        }
        conf.putAll(spec.settings());
        StringBuilder text = new StringBuilder("# written by pg-harness; included at the end of postgresql.conf\n");
        conf.forEach((name, value) -> text.append(name).append(" = ").append(quote(value)).append('\n'));
        write(dataDir.resolve(HARNESS_CONF), text.toString(), false);
    }

    static void write(Path file, String text, boolean append) {
        try {
            if (append) {
                Files.writeString(file, text, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
            } else {
                Files.writeString(file, text, StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
        ServerUser.giveToServerUser(file);
    }
}
