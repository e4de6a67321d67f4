package io.pgbatchtelemetry.exporter.db;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * The per-version reads the exporter shares with the telemetry schema, each written once in
 * {@code sql/src/reads/<part>.<first major>.sql}. The exporter's build copies those files onto its
 * classpath, and {@code sql/build.sh} inlines the same files into the schema's
 * {@code telemetry._read(part, version)}: a quantity both report (backend writes, WAL writes on 18,
 * checkpoints, I/O by backend type) is one text, so the two can't drift apart, and the exporter
 * still needs no schema in the database. Every version of a part returns the same named columns
 * (listed at the top of each file); a collector selects from it by name, wrapping it where it adds
 * columns of its own.
 */
public final class SharedReads {

    private static final String ROOT = "io/pgbatchtelemetry/exporter/reads/";
    /** Majors probed for a file: far beyond any release the exporter knows, at no cost but a lookup. */
    private static final int NEWEST_PROBED = 99;

    private SharedReads() {}

    /** The versions of {@code part}, by the first major each applies to. */
    public static VersionedSql load(String part) {
        Map<Integer, String> texts = new TreeMap<>();
        for (int major = VersionedSql.OLDEST_SUPPORTED; major <= NEWEST_PROBED; major++) {
            String resource = ROOT + part + "." + major + ".sql";
            try (InputStream in = SharedReads.class.getClassLoader().getResourceAsStream(resource)) {
                if (in != null) {
                    texts.put(major, new String(in.readAllBytes(), StandardCharsets.UTF_8).strip());
                }
            } catch (IOException e) {
                throw new UncheckedIOException("reading " + resource, e);
            }
        }
        if (texts.isEmpty()) {
            throw new IllegalStateException("no sql/src/reads/" + part + ".<major>.sql on the classpath");
        }
        return VersionedSql.of(texts);
    }
}
