package io.pgbatchtelemetry.harness;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;

/**
 * A real PostgreSQL 15, 16, 17 or 18 cluster on a free loopback port, for tests and the demo.
 *
 * <pre>{@code
 * try (PostgresCluster pg = PostgresCluster.builder(17).name("locks").setting("work_mem", "64kB").build()) {
 *     pg.start();
 *     try (Connection c = pg.connect()) { ... }
 * }
 * }</pre>
 *
 * <p>{@link Builder#build()} runs {@code initdb} in {@code <java.io.tmpdir>/pgbt-clusters/<name>-<random>/data}
 * ({@code -U postgres}, a generated password, scram on TCP, trust on the socket in the data
 * directory, UTF8, C locale, {@code --no-sync}); {@link #start()} starts it. The server log is
 * {@code server.log} next to the data directory (outside it, so a base backup does not copy a
 * primary's log into its standby). When the JVM is root, every server tool runs as the
 * {@code postgres} OS user (see {@link ServerUser}). {@link #close()} stops the server and deletes
 * the directory; whatever is left open at JVM exit is closed by {@link ClusterRegistry}.
 *
 * <p>Most tests should not build their own cluster but use {@link SharedClusters#get(int)}; build one
 * only for what would disturb other tests (crashes, restarts, replicas, postmaster settings).
 *
 * <p>Lifecycle methods throw the unchecked {@link HarnessException}; methods that run SQL the caller
 * wrote ({@link #connect()}, {@link #execute}, {@link #queryValue}) throw {@link SQLException} as JDBC
 * does, so a test can assert on a server error.
 */
public final class PostgresCluster implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(PostgresCluster.class.getName());
    private static final String HOST = "127.0.0.1";
    private static final String SUPERUSER = "postgres";
    private static final int PG_CTL_WAIT_SECONDS = 60;
    private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(PG_CTL_WAIT_SECONDS + 30);
    private static final Duration STREAMING_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration POLL = Duration.ofMillis(20);
    private static final int START_ATTEMPTS = 5;
    private static final int LOG_TAIL_CHARS = 4000;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Map<String, String> TOOL_ENV = Map.of("LC_ALL", "C");

    private final ClusterSpec spec;
    private final PgBinaries binaries;
    private final Path clusterDir;
    private final Path dataDir;
    private final Path logFile;
    private final String password;
    /** For a standby: its primary and the primary's replication slot it streams through. */
    private final PostgresCluster primary;
    private final String primarySlot;
    private volatile int port;
    private volatile boolean closed;

    private PostgresCluster(ClusterSpec spec, PgBinaries binaries, Path clusterDir, String password,
                            PostgresCluster primary, String primarySlot) {
        this.spec = spec;
        this.binaries = binaries;
        this.clusterDir = clusterDir;
        this.dataDir = clusterDir.resolve("data");
        this.logFile = clusterDir.resolve("server.log");
        this.password = password;
        this.primary = primary;
        this.primarySlot = primarySlot;
    }

    public static Builder builder(int majorVersion) {
        return new Builder(majorVersion);
    }

    /** Configures a cluster; {@link #build()} creates it (initdb) without starting it. */
    public static final class Builder {
        private final int major;
        private String name;
        private final Map<String, String> settings = new LinkedHashMap<>();
        private boolean preloadPgCron;

        private Builder(int major) {
            this.major = major;
            this.name = "pg" + major;
        }

        /** Lower-case letters, digits, '-' and '_', at most 30: used in the directory and as cluster_name. */
        public Builder name(String name) {
            this.name = Objects.requireNonNull(name);
            return this;
        }

        /** A postgresql.conf setting, applied after the harness's own (so it can override them). */
        public Builder setting(String name, String value) {
            ServerConfig.validateName(name);
            settings.put(name, Objects.requireNonNull(value));
            return this;
        }

        /** Loads pg_cron at start (cron.database_name = postgres). Only PostgreSQL 15 has pg_cron here. */
        public Builder preloadPgCron(boolean preload) {
            this.preloadPgCron = preload;
            return this;
        }

        /** Runs initdb and writes the configuration; the cluster is not started yet. */
        public PostgresCluster build() {
            ClusterSpec spec = new ClusterSpec(major, name, settings, preloadPgCron);
            PgBinaries binaries = PgBinaries.forMajor(major);
            if (binaries.major() != major) {
                throw new HarnessException("asked for PostgreSQL " + major + " but found " + binaries.major());
            }
            if (preloadPgCron && !binaries.hasLibrary("pg_cron")) {
                throw new HarnessException("pg_cron is not available for PostgreSQL " + major + " here (no "
                        + binaries.pkgLibDir().resolve("pg_cron.so") + "); only the Debian PostgreSQL 15 has it "
                        + "(package postgresql-15-cron). Use manual telemetry calls on other versions.");
            }
            PostgresCluster cluster = new PostgresCluster(spec, binaries, ClusterRegistry.newClusterDir(name),
                    generatePassword(), null, null);
            ClusterRegistry.register(cluster);
            try {
                cluster.initdb();
            } catch (RuntimeException e) {
                cluster.close();
                throw e;
            }
            return cluster;
        }
    }

    // ---------------------------------------------------------------- identity

    public String name() {
        return spec.name();
    }

    public int majorVersion() {
        return spec.major();
    }

    public String host() {
        return HOST;
    }

    public int port() {
        return port;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** The server's stderr log (warnings and errors; {@code log_min_messages = warning}). */
    public Path logFile() {
        return logFile;
    }

    public PgBinaries binaries() {
        return binaries;
    }

    public String superuser() {
        return SUPERUSER;
    }

    /** The superuser's password on TCP. Never log it. */
    public String superuserPassword() {
        return password;
    }

    public boolean isStandby() {
        return primary != null;
    }

    /** The replication slot on the primary this standby streams through; empty on a primary. */
    public Optional<String> primarySlotName() {
        return Optional.ofNullable(primarySlot);
    }

    /** The URL of database {@code postgres}. */
    public String jdbcUrl() {
        return jdbcUrl("postgres");
    }

    /** {@code jdbc:postgresql://127.0.0.1:<port>/<database>}; credentials are not part of it. */
    public String jdbcUrl(String database) {
        return "jdbc:postgresql://" + HOST + ":" + port + "/" + database;
    }

    // ---------------------------------------------------------------- lifecycle

    /** Starts the server and waits until it accepts connections; a no-op when it is running. */
    public synchronized void start() {
        ensureOpen();
        if (isRunning()) {
            return;
        }
        removeStaleLockFiles();
        for (int attempt = 1; ; attempt++) {
            long logOffset = sizeOf(logFile);
            Commands.Result result = pgCtl("start", "-l", logFile.toString());
            if (result.succeeded()) {
                return;
            }
            String log = readLogFrom(logOffset);
            // the port was free when chosen, but another process may have bound it since
            if (attempt < START_ATTEMPTS && (log.contains("could not bind") || log.contains("Address already in use"))
                    && !isRunning()) {
                choosePort();
                continue;
            }
            if (isRunning()) {
                stopWith("immediate"); // pg_ctl gave up waiting (-t); don't leave a half-started server
            }
            throw new HarnessException(describe() + " did not start.\npg_ctl: " + result.output().trim()
                    + "\n--- tail of " + logFile + " ---\n" + tail(log));
        }
    }

    /** Fast shutdown (aborts sessions, writes a shutdown checkpoint); a no-op when it is not running. */
    public synchronized void stop() {
        if (isRunning()) {
            stopWith("fast");
        }
    }

    public synchronized void restart() {
        stop();
        start();
    }

    /**
     * SIGKILLs the postmaster, as a crash would, and waits until it and all its children are gone
     * (a new postmaster refuses to start while an old backend still holds the shared memory).
     * {@link #start()} afterwards runs crash recovery.
     */
    public synchronized void crash() {
        ProcessHandle postmaster = PostmasterPid.live(dataDir)
                .orElseThrow(() -> new HarnessException(describe() + " is not running; nothing to crash"));
        List<ProcessHandle> children = postmaster.children().toList();
        postmaster.destroyForcibly();
        if (!PostmasterPid.awaitExit(List.of(postmaster), Duration.ofSeconds(30))) {
            throw new HarnessException("postmaster " + postmaster.pid() + " of " + describe() + " survived SIGKILL");
        }
        // children notice the postmaster's death on their own; force the ones that are slow to
        if (!PostmasterPid.awaitExit(children, Duration.ofSeconds(10))) {
            children.forEach(ProcessHandle::destroyForcibly);
            PostmasterPid.awaitExit(children, Duration.ofSeconds(10));
        }
    }

    /** Whether a postmaster is running on this data directory. */
    public boolean isRunning() {
        return PostmasterPid.live(dataDir).isPresent();
    }

    /** Stops the server (immediately: the data is being deleted), deletes its directory. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            try {
                if (isRunning()) {
                    stopWith("immediate");
                }
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "pg_ctl could not stop " + describe() + "; killing it", e);
                PostmasterPid.live(dataDir).ifPresent(p -> {
                    p.destroyForcibly();
                    PostmasterPid.awaitExit(List.of(p), Duration.ofSeconds(10));
                });
            } finally {
                Directories.deleteRecursively(clusterDir);
                ClusterRegistry.unregister(this);
            }
        }
        // outside this standby's lock: the primary's lock is taken by replica creation before ours
        if (primary != null) {
            primary.dropSlotOf(this);
        }
    }

    // ---------------------------------------------------------------- SQL

    /** A connection as the superuser to database {@code postgres}. */
    public Connection connect() throws SQLException {
        return connect("postgres");
    }

    /** A connection as the superuser to the given database. */
    public Connection connect(String database) throws SQLException {
        return connect(SUPERUSER, password, database);
    }

    /** A connection over loopback TCP (scram) as any role. */
    public Connection connect(String user, String userPassword, String database) throws SQLException {
        Properties properties = new Properties();
        properties.setProperty("user", user);
        if (userPassword != null) {
            properties.setProperty("password", userPassword);
        }
        properties.setProperty("connectTimeout", "10");
        return DriverManager.getConnection(jdbcUrl(database), properties);
    }

    /** Runs one statement (or a semicolon-separated script without results) as the superuser on {@code postgres}. */
    public void execute(String sql) throws SQLException {
        try (Connection connection = connect(); Statement statement = connection.createStatement()) {
            statement.execute(sql);
        }
    }

    /** The first column of the first row as text, or null (no row, or SQL NULL). */
    public String queryValue(String sql) throws SQLException {
        try (Connection connection = connect(); Statement statement = connection.createStatement();
             ResultSet rows = statement.executeQuery(sql)) {
            return rows.next() ? rows.getString(1) : null;
        }
    }

    /**
     * {@code ALTER SYSTEM SET name = 'value'} and a configuration reload, returning once the server
     * has reloaded (so a new session sees the value). Settings that only take effect at server start
     * ({@code pg_settings.context = 'postmaster'}) need {@link #restart()}: this returns true then.
     * A list-valued setting ({@code shared_preload_libraries}) takes one element only.
     */
    public boolean setSetting(String name, String value) {
        ServerConfig.validateName(name);
        try (Connection connection = connect(); Statement statement = connection.createStatement()) {
            Timestamp loadedBefore = timestamp(statement, "SELECT pg_conf_load_time()");
            statement.execute("ALTER SYSTEM SET " + name + " = " + ServerConfig.quote(value));
            statement.execute("SELECT pg_reload_conf()");
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            // this session reloads when the postmaster, having reloaded itself, signals its children
            while (!timestamp(statement, "SELECT pg_conf_load_time()").after(loadedBefore)) {
                if (System.nanoTime() > deadline) {
                    throw new HarnessException(describe() + " did not reload its configuration within 30 s");
                }
                sleep(POLL);
            }
            try (ResultSet pending = statement.executeQuery(
                    "SELECT pending_restart FROM pg_settings WHERE name = " + ServerConfig.quote(name))) {
                return pending.next() && pending.getBoolean(1);
            }
        } catch (SQLException e) {
            throw new HarnessException("cannot set " + name + " on " + describe() + ": " + e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------- replication

    /**
     * Clones this running primary into a new, started streaming standby named {@code name}: a
     * physical replication slot on this primary, a base backup ({@link BaseBackup}), its own port
     * and socket directory, started and returned once {@code pg_is_in_recovery()} and its
     * walreceiver is streaming. The standby's {@code application_name} in
     * {@code pg_stat_replication} is its name. Closing it drops its slot here; closing this primary
     * first is fine too.
     */
    public synchronized PostgresCluster createStreamingReplica(String name) {
        ensureOpen();
        if (!isRunning()) {
            throw new HarnessException(describe() + " must be running to create a replica");
        }
        String slot = ("pgbt_" + name.replace('-', '_') + "_" + Long.toHexString(RANDOM.nextLong() >>> 40));
        PostgresCluster standby = new PostgresCluster(spec.named(name), binaries, ClusterRegistry.newClusterDir(name),
                password, this, slot);
        ClusterRegistry.register(standby);
        try {
            superuserSql("SELECT pg_create_physical_replication_slot(" + ServerConfig.quote(slot) + ", true)");
            BaseBackup.forBinaries(binaries).copy(this, standby.dataDir, slot);
            standby.choosePort();
            standby.start();
            standby.awaitStreaming();
            return standby;
        } catch (RuntimeException e) {
            standby.close();
            throw e;
        }
    }

    private void awaitStreaming() {
        long deadline = System.nanoTime() + STREAMING_TIMEOUT.toNanos();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            try (Connection connection = connect(); Statement statement = connection.createStatement();
                 ResultSet row = statement.executeQuery("SELECT pg_is_in_recovery(), "
                         + "(SELECT status FROM pg_stat_wal_receiver)")) {
                row.next();
                last = "pg_is_in_recovery=" + row.getBoolean(1) + ", walreceiver=" + row.getString(2);
                if (row.getBoolean(1) && "streaming".equals(row.getString(2))) {
                    return;
                }
            } catch (SQLException e) {
                last = e.getMessage();
            }
            sleep(POLL);
        }
        throw new HarnessException("standby " + describe() + " is not streaming after " + STREAMING_TIMEOUT + " ("
                + last + ")\n--- tail of " + logFile + " ---\n" + tail(readLogFrom(0)));
    }

    /** Drops a closed standby's slot so it does not retain WAL; waits for its walsender to go. */
    private synchronized void dropSlotOf(PostgresCluster standby) {
        if (closed || !isRunning()) {
            return;
        }
        String slot = ServerConfig.quote(standby.primarySlot);
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        try (Connection connection = connect(); Statement statement = connection.createStatement()) {
            while (System.nanoTime() < deadline) {
                try (ResultSet left = statement.executeQuery("SELECT count(pg_drop_replication_slot(slot_name)) "
                        + "FILTER (WHERE NOT active), count(*) FROM pg_replication_slots WHERE slot_name = " + slot)) {
                    left.next();
                    if (left.getLong(1) == left.getLong(2)) {
                        return;
                    }
                }
                sleep(POLL);
            }
            LOG.log(System.Logger.Level.WARNING, "slot " + standby.primarySlot + " on " + describe()
                    + " still active after its standby closed");
        } catch (SQLException e) {
            LOG.log(System.Logger.Level.WARNING, "could not drop slot " + standby.primarySlot + " on "
                    + describe() + ": " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------- internals

    private void initdb() {
        Path passwordFile = clusterDir.resolve("initdb-password");
        ServerConfig.write(passwordFile, password + "\n", false);
        try {
            Commands.run(ServerUser.asServerUser(List.of(binaries.tool("initdb").toString(),
                            "-D", dataDir.toString(), "-U", SUPERUSER,
                            "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + passwordFile,
                            "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")),
                    TOOL_ENV, clusterDir, Duration.ofMinutes(3));
        } finally {
            deleteQuietly(passwordFile);
        }
        ServerConfig.prepare(dataDir);
        choosePort();
    }

    private void choosePort() {
        port = FreePort.find();
        ServerConfig.writeHarnessConf(dataDir, spec, port);
    }

    private Commands.Result pgCtl(String action, String... options) {
        List<String> command = new ArrayList<>(List.of(binaries.tool("pg_ctl").toString(), "-D", dataDir.toString(),
                "-w", "-t", Integer.toString(PG_CTL_WAIT_SECONDS)));
        command.addAll(List.of(options));
        command.add(action);
        return Commands.runAllowingFailure(ServerUser.asServerUser(command), TOOL_ENV, clusterDir, TOOL_TIMEOUT);
    }

    private void stopWith(String mode) {
        Commands.Result result = pgCtl("stop", "-m", mode);
        if (!result.succeeded() && isRunning()) {
            throw new HarnessException(describe() + " did not stop (-m " + mode + "): " + result.output().trim()
                    + "\n--- tail of " + logFile + " ---\n" + tail(readLogFrom(0)));
        }
    }

    /**
     * After a crash the pid file and the socket lock file name a dead process, or a zombie not yet
     * reaped (see {@link PostmasterPid#isGone}), or a pid reused by an unrelated process: a new
     * postmaster would refuse to start in the last two cases, so they go when no server runs here.
     */
    private void removeStaleLockFiles() {
        if (isRunning()) {
            return;
        }
        deleteQuietly(PostmasterPid.file(dataDir));
        try (var files = Files.list(dataDir)) {
            files.filter(file -> file.getFileName().toString().matches("\\.s\\.PGSQL\\.\\d+\\.lock"))
                    .forEach(PostgresCluster::deleteQuietly);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dataDir, e);
        }
    }

    private void superuserSql(String sql) {
        try {
            execute(sql);
        } catch (SQLException e) {
            throw new HarnessException(describe() + ": " + sql + " failed: " + e.getMessage(), e);
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new HarnessException(describe() + " is closed");
        }
    }

    private String describe() {
        return "PostgreSQL " + spec.major() + " cluster '" + spec.name() + "' (" + clusterDir + ", port " + port + ")";
    }

    private static Timestamp timestamp(Statement statement, String sql) throws SQLException {
        try (ResultSet row = statement.executeQuery(sql)) {
            row.next();
            return row.getTimestamp(1);
        }
    }

    private static long sizeOf(Path file) {
        try {
            return Files.exists(file) ? Files.size(file) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static String readLogFrom(Path file, long offset) {
        if (!Files.exists(file)) {
            return "(no log file)";
        }
        try (RandomAccessFile log = new RandomAccessFile(file.toFile(), "r")) {
            long length = log.length();
            long from = Math.max(offset, length - 64 * 1024);
            byte[] bytes = new byte[(int) (length - from)];
            log.seek(from);
            log.readFully(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private String readLogFrom(long offset) {
        return readLogFrom(logFile, offset);
    }

    private static String tail(String text) {
        return text.length() <= LOG_TAIL_CHARS ? text : "..." + text.substring(text.length() - LOG_TAIL_CHARS);
    }

    private static String generatePassword() {
        String alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
        StringBuilder password = new StringBuilder();
        for (int i = 0; i < 24; i++) {
            password.append(alphabet.charAt(RANDOM.nextInt(alphabet.length())));
        }
        return password.toString();
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "could not delete " + file + ": " + e.getMessage());
        }
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HarnessException("interrupted", e);
        }
    }
}
