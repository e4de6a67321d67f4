package io.pgbatchtelemetry.demo;

import io.pgbatchtelemetry.report.ReportCommand;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The report of the demo's slow run, written by the {@code report} subcommand itself ({@link ReportCommand},
 * the code behind {@code pg-batch-exporter report}) as HTML and Markdown, with the command that writes it
 * again. The subcommand says which baseline runs it compared against; the demo prints its lines.
 *
 * <p>The command to run again is the exporter's launcher of the same checkout when it and its jar are
 * there ({@code scripts/demo.sh} builds both), otherwise {@code java} on the classpath the demo runs
 * from (the demo jar holds the exporter), so it works as printed either way.
 *
 * @param directory where the reports go (kept when the demo stops: they are what a DBA would attach)
 * @param connection the demo's connection settings, the same server and user as its psql command
 */
record DemoReport(Path directory, DemoPsql connection) {

    private static final String EXPORTER_MAIN = "io.pgbatchtelemetry.exporter.Main";

    /** What one report step did: the files, the subcommand's own lines (paths, baseline runs) and the command to repeat it. */
    record Written(Path html, Path markdown, List<String> messages, String command) {}

    Written write(long runId) {
        Path html = directory.resolve("run-" + runId + ".html");
        Path markdown = directory.resolve("run-" + runId + ".md");
        List<String> messages = new ArrayList<>();
        messages.addAll(report(runId, "html", html));
        messages.addAll(report(runId, "md", markdown));
        return new Written(html, markdown, messages, command(runId, html));
    }

    /** The command a user can paste to write the HTML report again. */
    String command(long runId, Path html) {
        List<String> words = new ArrayList<>(launcher());
        words.addAll(arguments(runId, "html", html));
        return connection.exporterCommand(words);
    }

    private List<String> report(long runId, String format, Path out) {
        ByteArrayOutputStream said = new ByteArrayOutputStream();
        try (PrintStream err = new PrintStream(said, true, StandardCharsets.UTF_8)) {
            int status = new ReportCommand(connection.exporterEnvironment(), System.out, err).run(arguments(runId, format, out));
            List<String> lines = said.toString(StandardCharsets.UTF_8).lines().toList();
            if (status != ReportCommand.EXIT_OK) {
                throw new IllegalStateException(String.join("; ", lines));
            }
            return lines;
        }
    }

    private static List<String> arguments(long runId, String format, Path out) {
        return List.of("--run", Long.toString(runId), "--format", format, "--out", out.toAbsolutePath().toString());
    }

    /** The exporter's launcher next to the demo's checkout, or java with the demo's own classpath. */
    static List<String> launcher() {
        Path checkout = checkout();
        if (checkout != null) {
            Path script = checkout.resolve("exporter/bin/pg-batch-exporter");
            if (Files.isExecutable(script) && Files.isRegularFile(checkout.resolve("exporter/target/pg-batch-exporter.jar"))) {
                return List.of(script.toString(), "report");
            }
        }
        String classpath = Arrays.stream(System.getProperty("java.class.path").split(java.io.File.pathSeparator))
                .map(entry -> Path.of(entry).toAbsolutePath().toString())
                .collect(Collectors.joining(java.io.File.pathSeparator));
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", classpath, EXPORTER_MAIN, "report");
    }

    /** The source checkout the demo runs from (its code in demo/target/), or null when it runs from elsewhere. */
    private static Path checkout() {
        java.security.CodeSource source = DemoReport.class.getProtectionDomain().getCodeSource();
        if (source == null) {
            return null;
        }
        try {
            Path code = Path.of(source.getLocation().toURI()).toAbsolutePath();
            Path target = code.getParent();
            if (target == null || !target.getFileName().toString().equals("target") || target.getParent() == null) {
                return null;
            }
            return target.getParent().getParent();
        } catch (URISyntaxException | IllegalArgumentException e) {
            return null;
        }
    }
}
