package io.pgbatchtelemetry.exporter.collector;

import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code pg_settings.unit} ({@code '8kB'}, {@code 'kB'}, {@code 'MB'}, {@code 'B'}, {@code 'ms'},
 * {@code 's'}, {@code 'min'}, ...) as a dimension and a factor to the metric base unit (bytes or
 * seconds).
 *
 * <p>PostgreSQL prints block-sized units with their multiple ({@code '8kB'} for
 * {@code shared_buffers}, {@code '16MB'} on old servers), so a unit is an optional count followed
 * by a unit name, and both are parsed rather than listed.
 *
 * <p>A unit-bearing setting at {@code -1} means "not set here": {@code autovacuum_work_mem} uses
 * {@code maintenance_work_mem}, {@code autovacuum_vacuum_cost_delay} uses
 * {@code vacuum_cost_delay}, {@code temp_file_limit} means no limit. Converting it would turn a
 * flag into a nonsense size (-1024 bytes), so {@link #toBaseUnits} keeps {@code -1} as it is.
 */
public record SettingUnit(Dimension dimension, double factor) {

    /** What the base unit is, and the suffix it gives a metric name. */
    public enum Dimension {
        NONE(""), BYTES("_bytes"), SECONDS("_seconds");

        private final String suffix;

        Dimension(String suffix) {
            this.suffix = suffix;
        }

        public String suffix() {
            return suffix;
        }
    }

    /** A setting without a unit: counts, ratios, booleans. */
    public static final SettingUnit NONE = new SettingUnit(Dimension.NONE, 1);

    /** PostgreSQL's "not set here" value for unit-bearing settings. */
    public static final double NOT_SET = -1;

    private static final Pattern UNIT = Pattern.compile("(\\d*)([a-zA-Z]+)");

    private static final Map<String, SettingUnit> NAMED = Map.of(
            "B", new SettingUnit(Dimension.BYTES, 1),
            "kB", new SettingUnit(Dimension.BYTES, 1024),
            "MB", new SettingUnit(Dimension.BYTES, 1024.0 * 1024),
            "GB", new SettingUnit(Dimension.BYTES, 1024.0 * 1024 * 1024),
            "TB", new SettingUnit(Dimension.BYTES, 1024.0 * 1024 * 1024 * 1024),
            "us", new SettingUnit(Dimension.SECONDS, 1e-6),
            "ms", new SettingUnit(Dimension.SECONDS, 1e-3),
            "s", new SettingUnit(Dimension.SECONDS, 1),
            "min", new SettingUnit(Dimension.SECONDS, 60),
            "h", new SettingUnit(Dimension.SECONDS, 3600));

    /** Parses {@code pg_settings.unit}: NULL or empty is {@link #NONE}, a unit not known here is empty. */
    public static Optional<SettingUnit> parse(String unit) {
        if (unit == null || unit.isEmpty()) {
            return Optional.of(NONE);
        }
        Matcher matcher = UNIT.matcher(unit.trim());
        SettingUnit named = matcher.matches() ? NAMED.get(matcher.group(2)) : null;
        if (named == null) {
            return Optional.empty();
        }
        String count = matcher.group(1);
        return Optional.of(count.isEmpty() ? named
                : new SettingUnit(named.dimension, named.factor * Long.parseLong(count)));
    }

    /** {@code value} (in this unit) in bytes or seconds; {@link #NOT_SET} stays as it is. */
    public double toBaseUnits(double value) {
        return value == NOT_SET ? NOT_SET : value * factor;
    }
}
