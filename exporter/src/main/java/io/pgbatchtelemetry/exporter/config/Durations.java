package io.pgbatchtelemetry.exporter.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.time.Duration;
import java.util.regex.Pattern;

/**
 * Durations in configuration, read and written the way users write them ({@code 500ms}, {@code 5s},
 * {@code 2m}).
 *
 * <p>HOCON reads a bare number as milliseconds, so {@code --scrape.timeout=5} would silently mean
 * five milliseconds; a number without a unit is an error that names the unit to add. Messages print durations
 * in the same notation ({@code 5s}), never {@code Duration.toString()}'s {@code PT5S}.
 */
public final class Durations {

    private static final Pattern BARE_NUMBER = Pattern.compile("\\s*[-+]?[0-9]+(\\.[0-9]+)?\\s*");

    private Durations() {}

    /** The duration at {@code key} (relative to {@code c}); {@code fullKey} names it in errors. */
    static Duration read(Config c, String key, String fullKey) {
        ConfigValue value = c.getValue(key);
        String text = String.valueOf(value.unwrapped());
        if (value.valueType() == ConfigValueType.NUMBER
                || value.valueType() == ConfigValueType.STRING && BARE_NUMBER.matcher(text).matches()) {
            String n = text.strip();
            throw ConfigException.forKey(fullKey, "'" + n + "' has no unit: write " + n + "s for seconds (or " + n + "ms, " + n
                    + "m); a number alone would be read as milliseconds");
        }
        try {
            return c.getDuration(key);
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.forKey(fullKey, "bad duration '" + text + "' (use e.g. 500ms, 3s, 1m)");
        }
    }

    /** {@code 5s}, {@code 100ms}, {@code 2m}, {@code 1h}, {@code 90s}: the largest unit that is exact. */
    public static String format(Duration d) {
        if (d.isNegative()) {
            return "-" + format(d.negated());
        }
        long millis = d.toMillis();
        if (millis == 0 && !d.isZero()) {
            return d.toNanos() % 1000 == 0 ? d.toNanos() / 1000 + "us" : d.toNanos() + "ns";
        }
        if (millis % 1000 != 0) {
            return millis + "ms";
        }
        long seconds = millis / 1000;
        if (seconds == 0 || seconds % 60 != 0) {
            return seconds + "s";
        }
        long minutes = seconds / 60;
        return minutes % 60 != 0 ? minutes + "m" : minutes / 60 + "h";
    }
}
