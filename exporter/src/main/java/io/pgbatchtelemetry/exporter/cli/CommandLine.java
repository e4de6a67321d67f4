package io.pgbatchtelemetry.exporter.cli;

import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.config.ConfigException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The command line, postgres_exporter style: {@code --web.listen-address=:9187},
 * {@code --web.telemetry-path=/metrics}, {@code --config.file=PATH},
 * {@code --[no-]collector.NAME}, and any config key as {@code --KEY=VALUE}.
 *
 * @param overrides config keys (relative to the root) set on the command line
 */
public record CommandLine(boolean help, boolean version, Path configFile, String logLevel, Map<String, String> overrides) {

    private static final Set<String> LOG_LEVELS = Set.of("debug", "info", "warn", "error");

    public CommandLine {
        overrides = Map.copyOf(overrides);
    }

    /**
     * @param knownKeys config keys that may be set with {@code --KEY=VALUE}
     * @throws ConfigException for an unknown flag or a flag without its value
     */
    public static CommandLine parse(List<String> args, Set<String> knownKeys) {
        boolean help = false;
        boolean version = false;
        Path configFile = null;
        String logLevel = "info";
        Map<String, String> overrides = new LinkedHashMap<>();
        LongOptions options = new LongOptions(args);
        while (options.hasNext()) {
            LongOptions.Option option = options.next();
            if (!option.isOption()) {
                throw new ConfigException("unexpected argument '" + option.argument() + "' (options start with --; see --help)");
            }
            String name = option.name();
            if (name.equals("help")) {
                help = true;
                continue;
            }
            if (name.equals("version")) {
                version = true;
                continue;
            }
            if (name.startsWith("collector.") || name.startsWith("no-collector.")) {
                boolean enable = name.startsWith("collector.");
                String collector = name.substring(name.indexOf('.') + 1);
                if (!CollectorCatalog.names().contains(collector)) {
                    throw new ConfigException("--" + name + ": unknown collector '" + collector + "', known: " + CollectorCatalog.names());
                }
                overrides.put("collectors." + collector, Boolean.toString(enable));
                continue;
            }
            if (!name.equals("config.file") && !name.equals("log.level") && !knownKeys.contains(name)) {
                throw new ConfigException("--" + name + ": unknown option (see --help)");
            }
            String value = options.value(option);
            if (value == null) {
                throw new ConfigException("--" + name + ": needs a value");
            }
            switch (name) {
                case "config.file" -> configFile = Path.of(value);
                case "log.level" -> {
                    if (!LOG_LEVELS.contains(value)) {
                        throw new ConfigException("--log.level: expected one of " + LOG_LEVELS + ", got '" + value + "'");
                    }
                    logLevel = value;
                }
                default -> overrides.put(name, value);
            }
        }
        return new CommandLine(help, version, configFile, logLevel, overrides);
    }
}
