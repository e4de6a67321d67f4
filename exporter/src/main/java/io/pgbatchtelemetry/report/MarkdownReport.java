package io.pgbatchtelemetry.report;

import java.util.List;

/**
 * Renders a {@link RunReport} as Markdown for tickets and chat: the same verdict, warnings and
 * tables as the HTML report, without the charts. Every value is escaped so that a query text or a
 * table name can neither break a table nor turn into markup (or raw HTML) where it is pasted.
 */
public final class MarkdownReport {

    public String render(RunReport report) {
        StringBuilder md = new StringBuilder(8 * 1024);
        md.append("# ").append(escape(report.title())).append("\n\n");
        md.append("**").append(escape(report.run("state"))).append("**, started ").append(escape(report.run("started_at")));
        if (!report.run("ended_at").isEmpty()) {
            md.append(", ended ").append(escape(report.run("ended_at")));
        }
        md.append(", took **").append(escape(report.run("duration_text"))).append("** (database ")
                .append(escape(report.server("database"))).append(", PostgreSQL ").append(escape(report.server("version"))).append(")\n\n");

        md.append("## Verdict\n\n").append(escape(report.verdictSummary())).append("\n\n");
        if (report.causes().isEmpty()) {
            md.append("No diagnostic pattern stands out in this run.\n\n");
        }
        for (RunReport.Cause cause : report.causes()) {
            md.append(cause.rank()).append(". **").append(escape(cause.headline())).append("**");
            if (!cause.evidence().isEmpty()) {
                md.append("  \n   ").append(escape(cause.evidence()));
            }
            if (!cause.settings().isEmpty()) {
                md.append("  \n   Settings changed: ").append(escape(cause.settings()));
            }
            md.append("  \n   ").append(escape(cause.recommendation())).append('\n');
        }
        if (!report.causes().isEmpty()) {
            md.append('\n');
        }
        if (!report.alsoOutsideBaseline().isEmpty()) {
            md.append("Also beyond anything the baseline has seen:\n\n");
            report.alsoOutsideBaseline().forEach(line -> md.append("- ").append(escape(line)).append('\n'));
            md.append('\n');
        }
        if (!report.warnings().isEmpty()) {
            md.append("## Warnings\n\n");
            report.warnings().forEach(w -> md.append("- ").append(escape(w.message())).append('\n'));
            md.append('\n');
        }

        md.append("## Duration against the baseline\n\n");
        table(md, List.of("run", "", "duration"), report.durations().stream()
                .map(b -> List.of(Long.toString(b.runId()), b.label(), b.text())).toList());

        md.append("## This run against its baseline\n\n");
        table(md, List.of("metric", "this run", "baseline median", "baseline range", "ratio", ""), report.metrics().stream()
                .map(m -> List.of(m.label(), m.runText(), m.baselineText(), m.rangeText(), m.ratio(), m.outside() ? "outside the baseline" : ""))
                .toList());

        section(md, "Top statements", report.statements());
        section(md, "Plan changes", report.planChanges());

        md.append("## Tracked tables\n\n");
        if (report.tables().isEmpty()) {
            md.append("No tracked table in both snapshots of this run.\n\n");
        } else {
            table(md, report.tables().columns(), report.tables().rows());
        }

        md.append("## Settings changed\n\n");
        if (report.settingsChanged().isEmpty()) {
            md.append("No setting differs from the baseline runs.\n\n");
        } else {
            table(md, List.of("setting", "baseline", "this run", "set by", "baseline runs with that value"), report.settingsChanged().stream()
                    .map(s -> List.of(s.name(), s.baseline(), s.run(), s.source(), s.baselineRuns())).toList());
        }

        md.append("## Findings (telemetry.diagnose)\n\n");
        if (report.findings().isEmpty()) {
            md.append("diagnose() found nothing above its thresholds.\n\n");
        } else {
            table(md, List.of("#", "pattern", "severity", "evidence", "recommendation"), report.findings().stream()
                    .map(f -> List.of(Integer.toString(f.rank()), f.pattern(), f.severity(), f.evidence(), f.recommendation())).toList());
        }
        md.append("_Generated ").append(escape(report.generatedAt())).append(" from telemetry.run\\_report() (format\\_version ")
                .append(report.formatVersion()).append(")._\n");
        return md.toString();
    }

    private static void section(StringBuilder md, String title, RunReport.Section section) {
        md.append("## ").append(title).append("\n\n");
        if (!section.available()) {
            md.append("_Unavailable: ").append(escape(section.reason())).append("_\n\n");
        } else if (section.table().isEmpty()) {
            md.append("Nothing to show.\n\n");
        } else {
            if (!section.note().isEmpty()) {
                md.append(escape(section.note())).append("\n\n");
            }
            table(md, section.table().columns(), section.table().rows());
        }
    }

    private static void table(StringBuilder md, List<String> columns, List<List<String>> rows) {
        md.append('|');
        columns.forEach(c -> md.append(' ').append(escape(c)).append(" |"));
        md.append("\n|");
        columns.forEach(c -> md.append(" --- |"));
        md.append('\n');
        for (List<String> row : rows) {
            md.append('|');
            row.forEach(cell -> md.append(' ').append(escape(cell)).append(" |"));
            md.append('\n');
        }
        md.append('\n');
    }

    /** Markdown's punctuation backslash-escaped, HTML's as entities, line breaks as spaces. */
    static String escape(String text) {
        StringBuilder out = new StringBuilder(text.length() + 8);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '\n', '\r', '\t' -> out.append(' ');
                case '\\', '`', '*', '_', '[', ']', '|', '#', '~' -> out.append('\\').append(c);
                default -> out.append(c);
            }
        }
        return out.toString();
    }
}
