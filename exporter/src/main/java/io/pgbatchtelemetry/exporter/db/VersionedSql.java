package io.pgbatchtelemetry.exporter.db;

import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.function.UnaryOperator;

/**
 * One statement a collector runs, with its SQL for each server version, by the first PostgreSQL
 * major version each text applies to.
 *
 * <p>This is where version differences live side by side: a collector lists its queries as
 * {@code VersionedSql.of(15, "...", 17, "...")} (or loads the reads shared with the telemetry
 * schema with {@link SharedReads}) and the newest entry not newer than the server wins. Each text
 * returns the same column aliases, so the mapping code has no version branches.
 *
 * <p>An instance is also the statement's identity within a scrape: a collector declares the
 * instances it reads ({@code Collector.statements}) and asks for their results by the same
 * instance ({@link StatementResults}), so nothing is matched by SQL text.
 */
public final class VersionedSql {

    /** The oldest PostgreSQL major version the exporter supports. */
    public static final int OLDEST_SUPPORTED = 15;

    private final NavigableMap<Integer, String> byFirstMajor;

    private VersionedSql(NavigableMap<Integer, String> byFirstMajor) {
        this.byFirstMajor = byFirstMajor;
    }

    /** The same text on every version (catalog-only statements, the probe, the telemetry schema's). */
    public static VersionedSql of(String sql) {
        return of(0, sql);
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

    /** From texts by first major version (at least one). */
    public static VersionedSql of(Map<Integer, String> byFirstMajor) {
        if (byFirstMajor.isEmpty()) {
            throw new IllegalArgumentException("no SQL text");
        }
        return new VersionedSql(new TreeMap<>(byFirstMajor));
    }

    /** Another statement: every version's text passed through {@code wrap} (e.g. a shared read as a subquery). */
    public VersionedSql map(UnaryOperator<String> wrap) {
        NavigableMap<Integer, String> wrapped = new TreeMap<>();
        byFirstMajor.forEach((major, sql) -> wrapped.put(major, wrap.apply(sql)));
        return new VersionedSql(wrapped);
    }

    /** Whether some text applies to this server. */
    public boolean supports(PgServer server) {
        return supportsMajor(server.major());
    }

    /** Whether some text applies to this PostgreSQL major version. */
    public boolean supportsMajor(int major) {
        return byFirstMajor.floorEntry(major) != null;
    }

    /** The text for this server; fails if the server is older than every entry. */
    public String forServer(PgServer server) {
        return forMajor(server.major());
    }

    /** The text for this PostgreSQL major version; fails if it is older than every entry. */
    public String forMajor(int major) {
        Map.Entry<Integer, String> entry = byFirstMajor.floorEntry(major);
        if (entry == null) {
            throw new IllegalStateException("no query for PostgreSQL " + major);
        }
        return entry.getValue();
    }

    /** The first line of the newest text, to name the statement in a message. */
    @Override
    public String toString() {
        String newest = byFirstMajor.lastEntry().getValue().strip();
        int newline = newest.indexOf('\n');
        return newline < 0 ? newest : newest.substring(0, newline) + " ...";
    }
}
