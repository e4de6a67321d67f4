package io.pgbatchtelemetry.exporter;

import io.pgbatchtelemetry.exporter.cli.CommandLine;
import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.config.ConfigException;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code bin/pg-batch-exporter} ({@code java @jvm.options -jar pg-batch-exporter.jar}): parses flags, loads settings, starts serving.
 *
 * <p>Exit status 2 means invalid configuration, with one line on stderr naming the key. A server
 * that is down or refuses the password is not a reason to exit: the exporter serves
 * {@code pg_up 0} and tries again on every scrape, as postgres_exporter does.
 */
public final class Main {

    static final int EXIT_CONFIG = 2;
    /** Held here: java.util.logging keeps loggers only weakly, and a collected one forgets its level. */
    private static final java.util.logging.Logger PGJDBC_LOGGER = java.util.logging.Logger.getLogger("org.postgresql");

    private Main() {}

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("report")) {
            // the report subcommand lives in its own package; the exporter never loads it
            System.exit(new io.pgbatchtelemetry.report.ReportCommand(System.getenv(), System.out, System.err)
                    .run(Arrays.asList(args).subList(1, args.length)));
            return;
        }
        SettingsLoader loader = new SettingsLoader();
        CommandLine commandLine;
        ExporterSettings settings;
        try {
            commandLine = CommandLine.parse(Arrays.asList(args), loader.keysWithDefaults().keySet());
            if (commandLine.help()) {
                printHelp(System.out, loader);
                return;
            }
            if (commandLine.version()) {
                System.out.println("pg-batch-exporter " + BuildVersion.get());
                return;
            }
            configureLogging(commandLine.logLevel());
            settings = loader.load(commandLine.configFile(), System.getenv(), commandLine.overrides());
        } catch (ConfigException e) {
            System.err.println("pg-batch-exporter: " + e.getMessage());
            System.exit(EXIT_CONFIG);
            return;
        }
        Logger log = LoggerFactory.getLogger(Main.class);
        Exporter exporter;
        try {
            exporter = Exporter.start(settings);
        } catch (ConfigException e) {
            // TLS files are read when the server starts; a bad one is still a configuration error
            System.err.println("pg-batch-exporter: " + e.getMessage());
            System.exit(EXIT_CONFIG);
            return;
        } catch (Exception e) {
            System.err.println("pg-batch-exporter: cannot listen on " + settings.web().host() + ":" + settings.web().port()
                    + ": " + e.getMessage());
            System.exit(1);
            return;
        }
        log.info("pg-batch-exporter {} serving {}://{}:{}{} for {} (collectors: {}; sampler: {})", BuildVersion.get(),
                settings.web().tls().enabled() ? "https" : "http",
                settings.web().host().isEmpty() ? "0.0.0.0" : settings.web().host(), exporter.port(),
                settings.web().telemetryPath(), describeServers(settings), settings.collectors(),
                settings.sampler().enabled() && settings.hasDefaultTarget()
                        ? "every " + io.pgbatchtelemetry.exporter.config.Durations.format(settings.sampler().interval()) + ", " + settings.batches().size() + " batch rules"
                        : "off");
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("stopping: finishing the scrape in flight");
            exporter.close();
            stopped.countDown();
        }, "shutdown"));
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The default server's URL (never with a password) and the probe targets' names. */
    private static String describeServers(ExporterSettings settings) {
        String main = settings.hasDefaultTarget() ? settings.dataSource().jdbcUrl() : "no default server";
        return settings.targets().isEmpty() ? main : main + " and probe targets " + settings.targets().keySet();
    }

    /**
     * slf4j-simple reads its level once, before the first logger exists; the format is in
     * simplelogger.properties.
     */
    private static void configureLogging(String level) {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", level);
        // pgjdbc logs through java.util.logging, in another format and once per connection attempt
        // (a wrong certificate name: a SEVERE pair of lines several times a second). Its errors reach
        // the exporter as exceptions and are logged once, with the reason, by the scrape log.
        if (!level.equals("debug")) {
            PGJDBC_LOGGER.setLevel(java.util.logging.Level.OFF);
        }
    }

    private static void printHelp(PrintStream out, SettingsLoader loader) {
        out.println("""
                usage: pg-batch-exporter [options]
                       (bin/pg-batch-exporter, which runs java @jvm.options -jar pg-batch-exporter.jar)
                       pg-batch-exporter report --run ID|latest [--name NAME] [--format html|md] [--out FILE]
                       (the report of a batch run; report --help)

                Prometheus exporter for PostgreSQL 15-18, for diagnosing slow batch jobs.
                Connects to DATA_SOURCE_NAME (postgresql://user:pass@host:port/db?sslmode=..., a libpq
                key=value string, or a jdbc:postgresql: URL) and serves metrics over HTTP.

                options:
                  --config.file=PATH          HOCON file with settings (see reference.conf in the README)
                  --web.listen-address=ADDR   HOST:PORT or :PORT to listen on (default :9187)
                  --web.telemetry-path=PATH   path of the metrics (default /metrics)
                  --collector.NAME            switch a collector on; --no-collector.NAME switches it off
                  --log.level=LEVEL           debug, info (default), warn or error
                  --KEY=VALUE                 any setting below
                  --version                   print the version and exit
                  --help                      print this help and exit

                collectors: %s

                settings (KEY = default; environment variable):""".formatted(String.join(", ", CollectorCatalog.names())));
        for (Map.Entry<String, String> entry : loader.keysWithDefaults().entrySet()) {
            out.printf("  %-32s = %-22s %s%n", entry.getKey(), entry.getValue(), SettingsLoader.environmentVariable(entry.getKey()));
        }
        out.println("""

                postgres_exporter's DATA_SOURCE_NAME, DATA_SOURCE_URI, DATA_SOURCE_USER, DATA_SOURCE_PASS and
                DATA_SOURCE_PASS_FILE are honoured. Precedence: defaults < --config.file < environment < flags.
                Passwords: --data-source.password=... (and a password inside a DATA_SOURCE_NAME given as a flag)
                is visible to every local user in the process list (ps); prefer --data-source.password-file or
                DATA_SOURCE_PASS_FILE (mode 0600, at most 4 KiB, first line) or the environment.
                Exit status 2: invalid configuration.""");
    }
}
