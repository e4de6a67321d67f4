package io.pgbatchtelemetry.report;

import io.pgbatchtelemetry.exporter.cli.LongOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code pg-batch-exporter report --run ID|latest [--name NAME] [--baseline auto|ID[,ID...]]
 * [--format html|md] [--out FILE]}, plus the exporter's own connection options
 * ({@code --config.file}, {@code --data-source.url=...}), which are handed to its settings loader.
 *
 * @param runId       the run, or {@code null} for the latest run of {@code name}
 * @param name        run name for {@code --run latest}
 * @param baseline    explicit baseline run ids, or {@code null} for the automatic baseline
 * @param format      {@code html} or {@code md}
 * @param out         file to write, or {@code null} for standard output
 * @param configFile  the exporter's {@code --config.file}, or {@code null}
 * @param overrides   other {@code --KEY=VALUE} options, for the exporter's settings loader
 */
public record ReportArguments(Long runId, String name, List<Long> baseline, String format, Path out,
                              Path configFile, Map<String, String> overrides, boolean help) {

    public static final String USAGE = """
            usage: pg-batch-exporter report --run ID|latest [--name NAME] [--baseline auto|ID[,ID...]]
                                            [--format html|md] [--out FILE] [--config.file=PATH] [--KEY=VALUE ...]

            Writes the report of one batch run (telemetry.run_report()) against its baseline: the usual
            runs of the same name (telemetry.baseline_runs()), or the runs given with --baseline.
            Connects like the exporter: DATA_SOURCE_NAME (or data-source.url), DATA_SOURCE_USER,
            DATA_SOURCE_PASS(_FILE), --config.file. HTML is one self-contained file (no network needed);
            without --out the report goes to standard output. Exit status 2: the report cannot be made
            (unknown run, no telemetry schema, bad option), with one line saying why.""";

    public ReportArguments {
        baseline = baseline == null ? null : List.copyOf(baseline);
        overrides = Map.copyOf(overrides);
    }

    public static ReportArguments parse(List<String> args) {
        String run = null;
        String name = null;
        List<Long> baseline = null;
        String format = null;
        Path out = null;
        Path configFile = null;
        boolean help = false;
        Map<String, String> overrides = new LinkedHashMap<>();
        LongOptions options = new LongOptions(args);
        while (options.hasNext()) {
            LongOptions.Option next = options.next();
            if (!next.isOption()) {
                throw new ReportException("unexpected argument '" + next.argument() + "' (see report --help)");
            }
            String option = next.name();
            if (option.equals("help")) {
                help = true;
                continue;
            }
            String value = options.value(next);
            if (value == null) {
                throw new ReportException("--" + option + ": needs a value");
            }
            switch (option) {
                case "run" -> run = value;
                case "name" -> name = value;
                case "baseline" -> baseline = value.equals("auto") ? null : ids("--baseline", value);
                case "format" -> format = value;
                case "out" -> out = Path.of(value);
                case "config.file" -> configFile = Path.of(value);
                default -> overrides.put(option, value);
            }
        }
        if (help) {
            return new ReportArguments(null, null, null, "html", null, null, Map.of(), true);
        }
        if (run == null) {
            throw new ReportException("--run: required (a run id, or 'latest' with --name)");
        }
        Long runId = null;
        if (run.equals("latest")) {
            if (name == null || name.isBlank()) {
                throw new ReportException("--run latest: needs --name NAME (the batch's run name)");
            }
        } else {
            runId = ids("--run", run).get(0);
            if (run.contains(",")) {
                throw new ReportException("--run: one run id, not a list");
            }
        }
        if (format == null) {
            format = out != null && out.toString().endsWith(".md") ? "md" : "html";
        }
        if (!format.equals("html") && !format.equals("md")) {
            throw new ReportException("--format: expected html or md, got '" + format + "'");
        }
        return new ReportArguments(runId, name, baseline, format, out, configFile, overrides, false);
    }

    private static List<Long> ids(String option, String value) {
        List<Long> ids = new ArrayList<>();
        for (String part : value.split(",")) {
            try {
                long id = Long.parseLong(part.strip());
                if (id <= 0) {
                    throw new NumberFormatException();
                }
                ids.add(id);
            } catch (NumberFormatException e) {
                throw new ReportException(option + ": expected a run id (a positive number), got '" + part.strip() + "'");
            }
        }
        return ids;
    }
}
