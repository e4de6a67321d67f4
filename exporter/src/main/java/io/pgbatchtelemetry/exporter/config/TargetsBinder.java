package io.pgbatchtelemetry.exporter.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigValueType;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Binds {@code targets { NAME { url = ..., ... } }}, the servers behind {@code /probe?target=NAME}.
 *
 * <p>Target names are the only thing a probe URL can choose, so they are kept to letters, digits,
 * '-' and '_' (safe in a URL, a label and a log line). Each target's keys are checked like every
 * other key: a typo stops start-up. A target inherits {@code data-source.application-name},
 * {@code data-source.connect-timeout} and {@code scrape.*} and may set its own pool size (default 1:
 * a probed server is one of many) and deadline.
 */
final class TargetsBinder {

    static final String PREFIX = SettingsLoader.ROOT + ".targets.";
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final Set<String> KEYS = Set.of("url", "user", "password", "password-file", "pool-size", "timeout");
    private static final int MAX_POOL_SIZE = 3;

    private TargetsBinder() {}

    /** Validates one leaf path under {@code targets} from a config source. */
    static void checkKey(String path, String source) {
        String rest = path.substring(PREFIX.length());
        int dot = rest.indexOf('.');
        String name = dot < 0 ? rest : rest.substring(0, dot);
        if (!NAME.matcher(name.replace("\"", "")).matches()) {
            throw ConfigException.forKey(SettingsLoader.ROOT + ".targets", "target names may use letters, digits, '-' and '_' "
                    + "(at most 64), got " + quoteSafely(name) + " (from " + source + ")");
        }
        String key = dot < 0 ? "" : rest.substring(dot + 1);
        if (!KEYS.contains(key)) {
            throw ConfigException.forKey(path, "unknown key (from " + source + "); a target takes " + new java.util.TreeSet<>(KEYS));
        }
    }

    static boolean configured(Config c) {
        return c.hasPath("targets") && !c.getObject("targets").isEmpty();
    }

    static Map<String, ExporterSettings.Target> bind(Config c, ExporterSettings.Scrape scrape) {
        Map<String, ExporterSettings.Target> targets = new TreeMap<>();
        if (!c.hasPath("targets")) {
            return targets;
        }
        ConfigObject object = c.getObject("targets");
        for (String name : object.keySet()) {
            String base = "targets." + name;
            if (object.get(name).valueType() != ConfigValueType.OBJECT) {
                throw ConfigException.forKey(SettingsLoader.ROOT + "." + base, "expected a block { url = ..., ... }");
            }
            targets.put(name, bindOne(c, name, base, scrape));
        }
        return targets;
    }

    private static ExporterSettings.Target bindOne(Config c, String name, String base, ExporterSettings.Scrape scrape) {
        String key = SettingsLoader.ROOT + "." + base;
        if (!c.hasPath(base + ".url") || SettingsLoader.string(c, base + ".url").isBlank()) {
            throw ConfigException.forKey(key + ".url", "required: the connection string of target " + name);
        }
        DataSourceName dsn = DataSourceName.parse(key + ".url", SettingsLoader.string(c, base + ".url"));
        String user = optional(c, base + ".user");
        String password = optional(c, base + ".password");
        String passwordFile = optional(c, base + ".password-file");
        if (!passwordFile.isEmpty()) {
            password = SettingsLoader.readPasswordFile(key + ".password-file", passwordFile);
        }
        int poolSize = c.hasPath(base + ".pool-size") ? SettingsLoader.integer(c, base + ".pool-size") : 1;
        if (poolSize < 1 || poolSize > MAX_POOL_SIZE) {
            throw ConfigException.forKey(key + ".pool-size", "must be between 1 and " + MAX_POOL_SIZE + " (got " + poolSize + ")");
        }
        Duration timeout = c.hasPath(base + ".timeout") ? SettingsLoader.positiveDuration(c, base + ".timeout") : scrape.timeout();
        Duration statementTimeout = min(scrape.statementTimeout(), timeout);
        Duration lockTimeout = min(scrape.lockTimeout(), statementTimeout);
        ExporterSettings.DataSource dataSource = new ExporterSettings.DataSource(dsn.jdbcUrl(),
                user.isEmpty() ? dsn.user() : user,
                password.isEmpty() ? dsn.password() : password,
                SettingsLoader.string(c, "data-source.application-name"),
                SettingsLoader.positiveDuration(c, "data-source.connect-timeout"));
        return new ExporterSettings.Target(name, dataSource, new ExporterSettings.Scrape(timeout, statementTimeout, lockTimeout, poolSize));
    }

    private static String optional(Config c, String path) {
        return c.hasPath(path) ? SettingsLoader.string(c, path) : "";
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    private static String quoteSafely(String name) {
        String shown = name.length() > 64 ? name.substring(0, 64) + "..." : name;
        return "'" + shown.replaceAll("[^\\x20-\\x7e]", "?") + "'";
    }
}
