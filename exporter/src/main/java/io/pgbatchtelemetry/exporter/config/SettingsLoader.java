package io.pgbatchtelemetry.exporter.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigList;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.collector.CollectorOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Builds {@link ExporterSettings} from four layers: {@code reference.conf} defaults, the
 * {@code --config.file}, environment variables and command-line flags (each overriding the one before).
 *
 * <p>Every key has an environment variable derived from its path ({@code scrape.timeout} is
 * {@code PG_EXPORTER_SCRAPE_TIMEOUT}), so nothing needs a second table; postgres_exporter's
 * {@code DATA_SOURCE_*} variables are accepted as aliases so that switching is a drop-in.
 * Validation happens here, once, at start-up: a typo'd key, an unknown collector or a bad duration
 * stops the exporter with a message naming the key, instead of silently running with defaults.
 */
public final class SettingsLoader {

    public static final String ROOT = "pg-batch-exporter";
    private static final String ENV_PREFIX = "PG_EXPORTER_";
    private static final int MAX_POOL_SIZE = 3;
    static final int MAX_PASSWORD_FILE_BYTES = 4096;
    private static final Duration MIN_SAMPLER_INTERVAL = Duration.ofMillis(100);
    private static final Duration MAX_SAMPLER_INTERVAL = Duration.ofSeconds(60);
    private static final int MIN_MAX_SERIES = 100;
    private static final int MAX_MAX_SERIES = 100_000;
    /** Fewer than {@link #MIN_MAX_SERIES}, so the series folded per batch always fit under max-series. */
    private static final int MAX_BATCHES = 50;
    private static final Pattern BATCH_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.:-]{0,62}");
    private static final String BATCHES_EXPECTED =
            "expected a list of batch rules like [{ name = \"nightly_etl\", application-name = \"^etl_\" }]";
    private static final Set<String> BATCH_KEYS = Set.of("name", "application-name", "user", "database");

    /** postgres_exporter's variable names, mapped to our keys. */
    private static final Map<String, String> POSTGRES_EXPORTER_ALIASES = Map.of(
            "DATA_SOURCE_NAME", "data-source.url",
            "DATA_SOURCE_USER", "data-source.user",
            "DATA_SOURCE_PASS", "data-source.password",
            "DATA_SOURCE_PASS_FILE", "data-source.password-file");

    private final Config reference = ConfigFactory.parseResources(SettingsLoader.class.getClassLoader(), "reference.conf");

    /**
     * @param configFile  the {@code --config.file}, or {@code null}
     * @param environment the process environment
     * @param flags       overrides from the command line, by key relative to {@value #ROOT}
     */
    public ExporterSettings load(Path configFile, Map<String, String> environment, Map<String, String> flags) {
        Config fromFile = configFile == null ? ConfigFactory.empty() : parseFile(configFile);
        rejectUnknownKeys(fromFile, "--config.file " + configFile);
        Config fromFlags = atRoot(flags);
        rejectUnknownKeys(fromFlags, "command line");
        Config merged = fromFlags
                .withFallback(atRoot(fromEnvironment(environment)))
                .withFallback(fromFile)
                .withFallback(reference);
        try {
            merged = merged.resolve();
        } catch (com.typesafe.config.ConfigException e) {
            throw new ConfigException("configuration: " + withoutFileText(e.getMessage()));
        }
        return bind(merged.getConfig(ROOT));
    }

    /** Environment variables for every key of reference.conf, plus postgres_exporter's aliases. */
    Map<String, String> fromEnvironment(Map<String, String> environment) {
        Map<String, String> overrides = new LinkedHashMap<>();
        String uri = environment.get("DATA_SOURCE_URI");
        if (uri != null && !uri.isBlank()) {
            overrides.put("data-source.url", "postgresql://" + uri.strip());
        }
        POSTGRES_EXPORTER_ALIASES.forEach((variable, key) -> {
            String value = environment.get(variable);
            if (value != null && !value.isEmpty()) {
                overrides.put(key, value);
            }
        });
        for (Map.Entry<String, ConfigValue> entry : reference.getConfig(ROOT).entrySet()) {
            String value = environment.get(environmentVariable(entry.getKey()));
            if (value != null) {
                overrides.put(entry.getKey(), value);
            }
        }
        return overrides;
    }

    /** {@code scrape.statement-timeout} → {@code PG_EXPORTER_SCRAPE_STATEMENT_TIMEOUT}. */
    public static String environmentVariable(String key) {
        return ENV_PREFIX + key.toUpperCase(java.util.Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    /** Every key that can be set, relative to {@value #ROOT}, for --help. */
    public Map<String, String> keysWithDefaults() {
        Map<String, String> keys = new java.util.TreeMap<>();
        reference.getConfig(ROOT).entrySet().forEach(e -> keys.put(e.getKey(), e.getValue().render()));
        return keys;
    }

    private Config parseFile(Path file) {
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new ConfigException("--config.file: cannot read " + file + (Files.exists(file) ? " (not a readable file)" : " (no such file)"));
        }
        try {
            return ConfigFactory.parseFile(file.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
        } catch (com.typesafe.config.ConfigException e) {
            throw new ConfigException("--config.file: " + clearerSyntaxError(withoutFileText(e.getMessage())));
        }
    }

    /**
     * The HOCON parser reports an object left open as "expecting a close parentheses ')'" (it means
     * the brace): say what is missing in the user's terms.
     */
    static String clearerSyntaxError(String message) {
        return message
                .replace("expecting a close parentheses ')' here, not: end of file",
                        "missing a closing '}': the file ends with a '{' still open")
                .replace("expecting a close parentheses ')'", "expecting a closing '}'");
    }

    /**
     * The HOCON parser quotes what it tripped over ({@code Key 'x' may not be followed by ...},
     * {@code ${x}}); on a password line with an unquoted special character that is part of the
     * password. Quoted fragments longer than two characters and substitution names are replaced:
     * the file, line and kind of error remain, which is what finding the mistake needs.
     */
    static String withoutFileText(String message) {
        return message.replaceAll("\\$\\{[^}]*\\}", "\\${...}").replaceAll("'[^']{3,}'", "'...'");
    }

    private static Config atRoot(Map<String, String> byKey) {
        Map<String, Object> rooted = new LinkedHashMap<>();
        byKey.forEach((key, value) -> rooted.put(ROOT + "." + key, value));
        return ConfigFactory.parseMap(rooted, "overrides");
    }

    private void rejectUnknownKeys(Config config, String source) {
        for (Map.Entry<String, ConfigValue> entry : config.entrySet()) {
            String path = entry.getKey();
            if (path.startsWith(ROOT + ".batches.")) {
                throw ConfigException.forKey(ROOT + ".batches", BATCHES_EXPECTED + " (from " + source + ")");
            }
            if (path.startsWith(TargetsBinder.PREFIX)) {
                TargetsBinder.checkKey(path, source);
                continue;
            }
            if (!reference.hasPath(path)) {
                throw ConfigException.forKey(path, "unknown key (from " + source + ")" + suggestion(path));
            }
        }
    }

    private String suggestion(String path) {
        if (!path.startsWith(ROOT + ".") && reference.hasPath(ROOT + "." + path)) {
            return "; the exporter's settings go inside " + ROOT + " { ... } (this one as " + ROOT + "." + path + ")";
        }
        String collectorsPrefix = ROOT + ".collectors.";
        if (path.startsWith(collectorsPrefix)) {
            return "; unknown collector '" + path.substring(collectorsPrefix.length()) + "', known: " + CollectorCatalog.names();
        }
        int dot = path.lastIndexOf('.');
        String parent = dot > 0 ? path.substring(0, dot) : "";
        if (!parent.isEmpty() && reference.hasPath(parent) && reference.getValue(parent) instanceof com.typesafe.config.ConfigObject object) {
            return "; known keys here: " + new TreeSet<>(object.keySet());
        }
        return "; known sections: " + new TreeSet<>(reference.getConfig(ROOT).root().keySet());
    }

    private ExporterSettings bind(Config c) {
        // a probe-only exporter (targets, no data-source.url) has no server behind /metrics
        boolean probeOnly = string(c, "data-source.url").isBlank() && TargetsBinder.configured(c);
        ExporterSettings.DataSource dataSource = probeOnly ? null : bindDataSource(c);
        ExporterSettings.Web web = bindWeb(c);
        Duration timeout = positiveDuration(c, "scrape.timeout");
        Duration statementTimeout = positiveDuration(c, "scrape.statement-timeout");
        Duration lockTimeout = positiveDuration(c, "scrape.lock-timeout");
        if (statementTimeout.compareTo(timeout) > 0) {
            throw ConfigException.forKey(ROOT + ".scrape.statement-timeout", "must not exceed scrape.timeout (" + Durations.format(timeout) + ")");
        }
        int poolSize = integer(c, "scrape.pool-size");
        if (poolSize < 1 || poolSize > MAX_POOL_SIZE) {
            throw ConfigException.forKey(ROOT + ".scrape.pool-size", "must be between 1 and " + MAX_POOL_SIZE
                    + " (got " + poolSize + "): the exporter must never crowd the server it watches");
        }
        Set<String> collectors = new LinkedHashSet<>();
        for (String name : CollectorCatalog.names()) {
            if (bool(c, "collectors." + name)) {
                collectors.add(name);
            }
        }
        ExporterSettings.Scrape scrape = new ExporterSettings.Scrape(timeout, statementTimeout, lockTimeout, poolSize);
        CollectorOptions collectorOptions = new CollectorOptions(nonNegativeDuration(c, "scrape.database-size-interval"),
                between(c, "statements.top", 1, 200), between(c, "statements.query-preview-chars", 0, 200),
                nonNegativeDuration(c, "statements.interval"));
        Map<String, ExporterSettings.Target> targets = TargetsBinder.bind(c, scrape);
        checkResponseTimeout(web, scrape, targets);
        return new ExporterSettings(dataSource, web, scrape, collectors, collectorOptions, bindSampler(c), bindBatches(c), targets);
    }

    private static ExporterSettings.Sampler bindSampler(Config c) {
        Duration interval = positiveDuration(c, "sampler.interval");
        if (interval.compareTo(MIN_SAMPLER_INTERVAL) < 0 || interval.compareTo(MAX_SAMPLER_INTERVAL) > 0) {
            throw ConfigException.forKey(ROOT + ".sampler.interval", "must be between 100ms and 60s, got "
                    + c.getValue("sampler.interval").unwrapped()
                    + " (shorter loads the server for little gain; longer blurs waits into noise)");
        }
        int maxSeries = integer(c, "sampler.max-series");
        if (maxSeries < MIN_MAX_SERIES || maxSeries > MAX_MAX_SERIES) {
            throw ConfigException.forKey(ROOT + ".sampler.max-series", "must be between " + MIN_MAX_SERIES + " and "
                    + MAX_MAX_SERIES + ", got " + maxSeries);
        }
        return new ExporterSettings.Sampler(bool(c, "sampler.enabled"), interval, maxSeries);
    }

    /**
     * {@code batches} is a list of objects in a file; from an environment variable or a flag it
     * arrives as a string, which is read as a HOCON list ({@code [{name = x, user = y}]}).
     */
    private static List<ExporterSettings.BatchRule> bindBatches(Config c) {
        String key = ROOT + ".batches";
        ConfigValue value = c.getValue("batches");
        if (value.valueType() == ConfigValueType.STRING) {
            try {
                value = ConfigFactory.parseString("batches = " + value.unwrapped()).getValue("batches");
            } catch (com.typesafe.config.ConfigException e) {
                throw ConfigException.forKey(key, BATCHES_EXPECTED + ": " + e.getMessage());
            }
        }
        if (!(value instanceof ConfigList list)) {
            throw ConfigException.forKey(key, BATCHES_EXPECTED);
        }
        if (list.size() > MAX_BATCHES) {
            throw ConfigException.forKey(key, "at most " + MAX_BATCHES + " batch rules, got " + list.size()
                    + " (each adds series; name the jobs that matter)");
        }
        List<ExporterSettings.BatchRule> rules = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < list.size(); i++) {
            String at = key + "[" + i + "]";
            if (!(list.get(i) instanceof ConfigObject object)) {
                throw ConfigException.forKey(at, "expected an object like { name = \"nightly_etl\", application-name = \"^etl_\" }");
            }
            for (String field : new TreeSet<>(object.keySet())) {
                if (!BATCH_KEYS.contains(field)) {
                    throw ConfigException.forKey(at + "." + field, "unknown key; known keys here: " + new TreeSet<>(BATCH_KEYS));
                }
            }
            String name = batchField(object, at, "name");
            if (name == null) {
                throw ConfigException.forKey(at + ".name", "missing: every batch needs a name (the batch label)");
            }
            if (!BATCH_NAME.matcher(name).matches()) {
                throw ConfigException.forKey(at + ".name", "'" + name + "' is not a valid batch name: 1-63 characters "
                        + "of letters, digits, '_', '.', ':' or '-', not starting with a punctuation mark");
            }
            if (ExporterSettings.BatchRule.RESERVED_NAMES.contains(name)) {
                throw ConfigException.forKey(at + ".name", "'" + name + "' is reserved (blocker_class uses it for "
                        + "non-batch sessions); choose another name");
            }
            Integer previous = seen.putIfAbsent(name, i);
            if (previous != null) {
                throw ConfigException.forKey(at + ".name", "duplicate batch name '" + name + "' (also " + key + "[" + previous + "])");
            }
            String applicationName = batchField(object, at, "application-name");
            Pattern pattern = null;
            if (applicationName != null) {
                try {
                    pattern = Pattern.compile(applicationName);
                } catch (PatternSyntaxException e) {
                    throw ConfigException.forKey(at + ".application-name", "invalid regular expression '" + applicationName
                            + "': " + e.getDescription() + " near index " + e.getIndex());
                }
            }
            String user = batchField(object, at, "user");
            String database = batchField(object, at, "database");
            if (pattern == null && user == null && database == null) {
                throw ConfigException.forKey(at, "batch '" + name + "' needs at least one of application-name, user, database");
            }
            rules.add(new ExporterSettings.BatchRule(name, pattern, user, database));
        }
        return rules;
    }

    /** A string field of a batch rule; absent or empty is {@code null} (no condition). */
    private static String batchField(ConfigObject object, String at, String field) {
        ConfigValue value = object.get(field);
        if (value == null) {
            return null;
        }
        if (value.valueType() != ConfigValueType.STRING) {
            throw ConfigException.forKey(at + "." + field, "expected a string, got " + value.valueType().name().toLowerCase(java.util.Locale.ROOT));
        }
        String text = (String) value.unwrapped();
        return text.isEmpty() ? null : text;
    }

    ExporterSettings.DataSource bindDataSource(Config c) {
        DataSourceName dsn = DataSourceName.parse(ROOT + ".data-source.url (DATA_SOURCE_NAME)", string(c, "data-source.url"));
        String user = string(c, "data-source.user");
        String password = string(c, "data-source.password");
        String passwordFile = string(c, "data-source.password-file");
        if (!passwordFile.isEmpty()) {
            password = readPasswordFile(ROOT + ".data-source.password-file", passwordFile);
        }
        String applicationName = string(c, "data-source.application-name");
        if (applicationName.isBlank()) {
            throw ConfigException.forKey(ROOT + ".data-source.application-name", "must not be empty: it is how the exporter's sessions are recognised");
        }
        return new ExporterSettings.DataSource(dsn.jdbcUrl(),
                user.isEmpty() ? dsn.user() : user,
                password.isEmpty() ? dsn.password() : password,
                applicationName, positiveDuration(c, "data-source.connect-timeout"));
    }

    /**
     * The first line of {@code file}, stripped; {@code key} names the setting in errors. At most
     * {@value #MAX_PASSWORD_FILE_BYTES} bytes are read (a password file holds one line; /dev/zero or a
     * log file named by mistake must not fill the heap). A file that group or others may read is
     * accepted with one warning, as ssh does for keys: Kubernetes mounts secrets 0644 unless told
     * otherwise, so refusing would break working installs; the warning says how to fix it.
     */
    static String readPasswordFile(String key, String file) {
        Path path = Path.of(file);
        try (java.io.InputStream in = Files.newInputStream(path)) {
            byte[] bytes = in.readNBytes(MAX_PASSWORD_FILE_BYTES + 1);
            if (bytes.length > MAX_PASSWORD_FILE_BYTES) {
                throw ConfigException.forKey(key, file + " is larger than " + MAX_PASSWORD_FILE_BYTES / 1024
                        + " KiB: a password file holds the password on its first line");
            }
            warnIfOthersCanRead(key, path);
            String content = new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
            int newline = content.indexOf('\n');
            String firstLine = newline >= 0 ? content.substring(0, newline) : content;
            return firstLine.strip();
        } catch (java.nio.file.NoSuchFileException e) {
            throw ConfigException.forKey(key, "cannot read " + file + " (no such file)");
        } catch (java.nio.file.AccessDeniedException | SecurityException e) {
            throw ConfigException.forKey(key, "cannot read " + file + " (permission denied)");
        } catch (IOException e) {
            throw ConfigException.forKey(key, "cannot read " + file + " (I/O error)");
        }
    }

    private static void warnIfOthersCanRead(String key, Path path) {
        Set<java.nio.file.attribute.PosixFilePermission> permissions;
        try {
            permissions = Files.getPosixFilePermissions(path);
        } catch (IOException | UnsupportedOperationException e) {
            return; // not a POSIX file system: nothing to judge
        }
        if (permissions.contains(java.nio.file.attribute.PosixFilePermission.GROUP_READ)
                || permissions.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ)) {
            org.slf4j.LoggerFactory.getLogger(SettingsLoader.class).warn("{}: {} is readable by {} (mode {}); chmod 600 it "
                            + "(Kubernetes: defaultMode 0400 on the secret volume)", key, path,
                    permissions.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ) ? "every user" : "its group",
                    java.nio.file.attribute.PosixFilePermissions.toString(permissions));
        }
    }

    private ExporterSettings.Web bindWeb(Config c) {
        String listen = string(c, "web.listen-address");
        String key = ROOT + ".web.listen-address";
        int colon = listen.lastIndexOf(':');
        if (colon < 0) {
            throw ConfigException.forKey(key, "expected HOST:PORT or :PORT, got '" + listen + "'");
        }
        String host = listen.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(listen.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw ConfigException.forKey(key, "port is not a number in '" + listen + "'");
        }
        if (port < 0 || port > 65535) {
            throw ConfigException.forKey(key, "port " + port + " is out of range 0-65535");
        }
        String path = string(c, "web.telemetry-path");
        if (!path.startsWith("/") || path.equals("/") || path.contains("?") || path.contains(" ")) {
            throw ConfigException.forKey(ROOT + ".web.telemetry-path", "must be a path like /metrics, got '" + path + "'");
        }
        if (path.equals("/probe") || path.equals("/-/healthy")) {
            throw ConfigException.forKey(ROOT + ".web.telemetry-path", path + " is taken by the exporter itself; use e.g. /metrics");
        }
        return new ExporterSettings.Web(host, port, path, WebSecurityBinder.tls(c), WebSecurityBinder.basicAuth(c), bindHttpLimits(c));
    }

    private static ExporterSettings.HttpLimits bindHttpLimits(Config c) {
        int maxIdle = integer(c, "web.max-idle-connections");
        if (maxIdle < 0 || maxIdle > 1000) {
            throw ConfigException.forKey(ROOT + ".web.max-idle-connections", "must be between 0 and 1000, got " + maxIdle);
        }
        return new ExporterSettings.HttpLimits(wholeSeconds(c, "web.request-timeout"), wholeSeconds(c, "web.response-timeout"),
                wholeSeconds(c, "web.idle-timeout"), maxIdle);
    }

    /** The JDK HTTP server counts these in whole seconds: at least 1s, a fraction is rounded up. */
    private static Duration wholeSeconds(Config c, String key) {
        Duration duration = positiveDuration(c, key);
        long seconds = duration.getSeconds() + (duration.getNano() > 0 ? 1 : 0);
        return Duration.ofSeconds(seconds);
    }

    /** A response may take as long as the slowest scrape behind it, and then some to be written. */
    private static void checkResponseTimeout(ExporterSettings.Web web, ExporterSettings.Scrape scrape,
                                             Map<String, ExporterSettings.Target> targets) {
        Duration longest = scrape.timeout();
        for (ExporterSettings.Target target : targets.values()) {
            if (target.scrape().timeout().compareTo(longest) > 0) {
                longest = target.scrape().timeout();
            }
        }
        if (web.limits().responseTimeout().compareTo(longest) <= 0) {
            throw ConfigException.forKey(ROOT + ".web.response-timeout", "must be longer than the longest scrape timeout ("
                    + longest + "): the answer to a scrape is written after the scrape");
        }
    }

    static String string(Config c, String key) {
        try {
            return c.getString(key);
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.forKey(ROOT + "." + key, "expected a string");
        }
    }

    private static int between(Config c, String key, int min, int max) {
        int value = integer(c, key);
        if (value < min || value > max) {
            throw ConfigException.forKey(ROOT + "." + key, "must be between " + min + " and " + max + ", got " + value);
        }
        return value;
    }

    static int integer(Config c, String key) {
        try {
            return c.getInt(key);
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.forKey(ROOT + "." + key, "expected a whole number, got '" + c.getValue(key).unwrapped() + "'");
        }
    }

    private static boolean bool(Config c, String key) {
        try {
            return c.getBoolean(key);
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.forKey(ROOT + "." + key, "expected true or false, got '" + c.getValue(key).unwrapped() + "'");
        }
    }

    static Duration positiveDuration(Config c, String key) {
        Duration duration = duration(c, key);
        if (duration.isNegative() || duration.isZero()) {
            throw ConfigException.forKey(ROOT + "." + key, "must be positive, got " + c.getValue(key).unwrapped());
        }
        return duration;
    }

    private static Duration nonNegativeDuration(Config c, String key) {
        Duration duration = duration(c, key);
        if (duration.isNegative()) {
            throw ConfigException.forKey(ROOT + "." + key, "must be 0 or more, got " + c.getValue(key).unwrapped());
        }
        return duration;
    }

    private static Duration duration(Config c, String key) {
        return Durations.read(c, key, ROOT + "." + key);
    }
}
