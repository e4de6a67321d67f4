package io.pgbatchtelemetry.exporter.metrics;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * How big one exposition may get from data the exporter does not control: a label value is at
 * most {@value #MAX_LABEL_VALUE_CHARS} characters and one source (a collector's sink) gives a
 * family at most {@value #DEFAULT_MAX_SERIES_PER_FAMILY} series unless it bounds itself (the sampler,
 * with {@code sampler.max-series}).
 *
 * <p>Run names, application names and other user-chosen text reach label values. The schema bounds
 * run names to 200 characters, but rows written before that bound, or by a superuser, may hold
 * anything: one 150 KB name, repeated on every family of a batch, made a scrape exhaust the heap.
 * A longer value keeps its first characters, then {@value #MARKER} and the first 12 hex digits of
 * the SHA-256 of the whole value, so two long names that share a beginning stay two series and a
 * DBA can still find the row ({@code WHERE left(name, 230) = ...}). 256 characters leave every
 * name PostgreSQL itself bounds (63 bytes) and every schema-bounded run name untouched, and stay
 * under the label-length limits Prometheus operators commonly configure
 * ({@code label_value_length_limit}).
 */
public final class LabelBounds {

    public static final int MAX_LABEL_VALUE_CHARS = 256;
    public static final int DEFAULT_MAX_SERIES_PER_FAMILY = 2_000;
    static final String MARKER = "...~";
    private static final int HASH_HEX_DIGITS = 12;

    public static final MetricFamily TRUNCATED = MetricFamily.gauge("pg_exporter_label_values_truncated",
            "Label values longer than " + MAX_LABEL_VALUE_CHARS + " characters that the last scrape shortened"
                    + " (first characters, a marker and a hash of the whole value), by metric family; absent when none.", "family");
    public static final MetricFamily DROPPED = MetricFamily.gauge("pg_exporter_series_dropped",
            "Series the last scrape left out because one source gave the family more than its limit"
                    + " (" + DEFAULT_MAX_SERIES_PER_FAMILY + " per collector, sampler.max-series for the sampler), by metric family;"
                    + " absent when none.", "family");

    private LabelBounds() {}

    /** {@code value} itself when short enough, else its bounded stand-in. */
    public static String bound(String value) {
        if (value.length() <= MAX_LABEL_VALUE_CHARS) {
            return value;
        }
        String hash = HexFormat.of().formatHex(sha256(value)).substring(0, HASH_HEX_DIGITS);
        int keep = MAX_LABEL_VALUE_CHARS - MARKER.length() - HASH_HEX_DIGITS;
        if (Character.isHighSurrogate(value.charAt(keep - 1))) {
            keep--; // never split a character in two
        }
        return value.substring(0, keep) + MARKER + hash;
    }

    private static byte[] sha256(String value) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
    }
}
