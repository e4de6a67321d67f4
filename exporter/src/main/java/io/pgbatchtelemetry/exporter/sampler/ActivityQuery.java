package io.pgbatchtelemetry.exporter.sampler;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The sampler's single query over {@code pg_stat_activity} (with {@code pg_blocking_pids} for
 * sessions waiting on a lock), read into {@link SessionSample}s.
 *
 * <p>The SQL lives in {@code activity-sample.sql} next to this class, so the benchmark script times
 * exactly the query the exporter runs. It is the same on PostgreSQL 15 to 18: every column it reads
 * ({@code backend_type}, {@code state}, the wait event columns) exists unchanged since 10, so
 * there is no {@code VersionedSql} here. pg_monitor is enough: it includes pg_read_all_stats, which
 * shows other roles' wait events; pg_blocking_pids is executable by everyone.
 */
final class ActivityQuery {

    static final String RESOURCE = "activity-sample.sql";
    static final String SQL = load();

    private final String excludedApplicationName1;
    private final String excludedApplicationName2;

    /** The two application names are the exporter's own sessions (scrape pool and sampler), left out. */
    ActivityQuery(String scrapeApplicationName, String samplerApplicationName) {
        this.excludedApplicationName1 = scrapeApplicationName;
        this.excludedApplicationName2 = samplerApplicationName;
    }

    List<SessionSample> read(Connection connection) throws SQLException {
        List<SessionSample> sessions = new ArrayList<>();
        try (PreparedStatement statement = connection.prepareStatement(SQL)) {
            statement.setString(1, excludedApplicationName1);
            statement.setString(2, excludedApplicationName2);
            try (ResultSet rs = statement.executeQuery()) {
                while (rs.next()) {
                    sessions.add(new SessionSample(rs.getInt("pid"), rs.getString("backend_type"),
                            rs.getString("wait_event_type"), rs.getString("wait_event"),
                            rs.getString("application_name"), rs.getString("usename"), rs.getString("datname"),
                            pids(rs.getArray("blocked_by")), rs.getBoolean("is_sampled"), rs.getString("query_id")));
                }
            }
        }
        return sessions;
    }

    private static List<Integer> pids(Array array) throws SQLException {
        if (array == null) {
            return List.of();
        }
        try {
            Object values = array.getArray();
            List<Integer> pids = new ArrayList<>();
            for (Integer pid : (Integer[]) values) {
                if (pid != null) {
                    pids.add(pid);
                }
            }
            return pids;
        } finally {
            array.free();
        }
    }

    private static String load() {
        try (InputStream in = ActivityQuery.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(RESOURCE + " missing from the jar");
            }
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            StringBuilder sql = new StringBuilder();
            for (String line : text.split("\n")) {
                if (!line.startsWith("--")) {
                    sql.append(line).append('\n');
                }
            }
            return sql.toString().strip();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
