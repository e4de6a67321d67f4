package io.pgbatchtelemetry.report;

import io.pgbatchtelemetry.exporter.config.ConfigException;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import io.pgbatchtelemetry.exporter.config.SettingsLoader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * {@code pg-batch-exporter report ...}: the report of one batch run, as HTML or Markdown.
 *
 * <p>Reached only through {@code Main} when the first argument is {@code report}, so the exporter
 * itself never loads these classes. Connection settings come from the exporter's own loader
 * (DATA_SOURCE_NAME and friends, {@code --config.file}, {@code --KEY=VALUE}), so a host that
 * runs the exporter can make reports with nothing more to configure. Any problem the user can act
 * on is one line on stderr and exit status 2; the file is written whole or not at all.
 */
public final class ReportCommand {

    public static final int EXIT_OK = 0;
    public static final int EXIT_USAGE = 2;

    private final Map<String, String> environment;
    private final PrintStream out;
    private final PrintStream err;

    public ReportCommand(Map<String, String> environment, PrintStream out, PrintStream err) {
        this.environment = Map.copyOf(environment);
        this.out = out;
        this.err = err;
    }

    public int run(List<String> args) {
        try {
            ReportArguments arguments = ReportArguments.parse(args);
            if (arguments.help()) {
                out.println(ReportArguments.USAGE);
                return EXIT_OK;
            }
            ExporterSettings settings = new SettingsLoader().load(arguments.configFile(), environment, arguments.overrides());
            if (!settings.hasDefaultTarget()) {
                throw new ReportException("no database to report on: set DATA_SOURCE_NAME or data-source.url");
            }
            String json = new ReportSource(settings.dataSource()).fetch(arguments.runId(), arguments.name(), arguments.baseline());
            RunReport report = RunReport.parse(json);
            String document = arguments.format().equals("md") ? new MarkdownReport().render(report) : new HtmlReport().render(report);
            if (arguments.out() == null) {
                out.print(document);
                out.flush();
            } else {
                write(arguments.out(), document);
                err.println("pg-batch-exporter report: wrote " + arguments.out().toAbsolutePath() + " (" + report.title()
                        + ", baseline runs " + (report.baselineRunIds().isEmpty() ? "none" : report.baselineRunIds()) + ")");
            }
            return EXIT_OK;
        } catch (ReportException | ConfigException e) {
            err.println("pg-batch-exporter report: " + e.getMessage());
            return EXIT_USAGE;
        }
    }

    /** Writes through a temporary file in the same directory, so a reader never sees half a report. */
    private static void write(Path target, String document) {
        Path absolute = target.toAbsolutePath();
        Path directory = absolute.getParent();
        if (directory == null || !Files.isDirectory(directory)) {
            throw new ReportException("--out: directory " + directory + " does not exist");
        }
        Path temporary = null;
        try {
            // not Files.createTempFile: its 0600 would make the report unreadable to the colleagues it is for
            temporary = directory.resolve("." + absolute.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
            Files.writeString(temporary, document, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE_NEW,
                    java.nio.file.StandardOpenOption.WRITE);
            Files.move(temporary, absolute, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new ReportException("--out: cannot write " + absolute + ": " + e.getMessage());
        } finally {
            if (temporary != null) {
                try {
                    Files.deleteIfExists(temporary);
                } catch (IOException ignored) {
                    // the move succeeded or the write failed; either way the report's fate is already told
                }
            }
        }
    }
}
