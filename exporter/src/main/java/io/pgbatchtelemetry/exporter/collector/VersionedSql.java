package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.db.PgServer;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * The SQL a collector runs, by the first PostgreSQL major version it applies to.
 *
 * <p>This is where version differences live side by side: a collector lists its queries as
 * {@code VersionedSql.of(15, "...", 17, "...")} and the newest entry not newer than the server
 * wins. Each query returns the same column aliases, so the mapping code has no version branches.
 */
public final class VersionedSql {

    private final NavigableMap<Integer, String> byFirstMajor;

    private VersionedSql(NavigableMap<Integer, String> byFirstMajor) {
        this.byFirstMajor = byFirstMajor;
    }

    public static VersionedSql of(int major, String sql) {
        return new VersionedSql(new TreeMap<>(Map.of(major, sql)));
    }

    public static VersionedSql of(int major1, String sql1, int major2, String sql2) {
        return new VersionedSql(new TreeMap<>(Map.of(major1, sql1, major2, sql2)));
    }

    public static VersionedSql of(int major1, String sql1, int major2, String sql2, int major3, String sql3) {
        return new VersionedSql(new TreeMap<>(Map.of(major1, sql1, major2, sql2, major3, sql3)));
    }

    /** Whether some query applies to this server. */
    public boolean supports(PgServer server) {
        return byFirstMajor.floorEntry(server.major()) != null;
    }

    /** The query for this server; fails if the server is older than every entry. */
    public String forServer(PgServer server) {
        Map.Entry<Integer, String> entry = byFirstMajor.floorEntry(server.major());
        if (entry == null) {
            throw new IllegalStateException("no query for PostgreSQL " + server.major());
        }
        return entry.getValue();
    }
}
