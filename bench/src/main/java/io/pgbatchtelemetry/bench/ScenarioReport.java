package io.pgbatchtelemetry.bench;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/** One scenario of the exporter benchmark as the Markdown table docs/benchmarks.md quotes (ours / theirs ratios). */
final class ScenarioReport {
    private record Row(String title, String key, String format) {
    }

    private static final List<Row> ROWS = List.of(
            new Row("scrape p50 (ms)", "p50_ms", "%.1f"), new Row("scrape p90 (ms)", "p90_ms", "%.1f"),
            new Row("scrape p99 (ms)", "p99_ms", "%.1f"),
            new Row("as Prometheus scrapes: p50 (ms)", "prometheus_p50_ms", "%.1f"),
            new Row("as Prometheus scrapes: p90 (ms)", "prometheus_p90_ms", "%.1f"),
            new Row("as Prometheus scrapes: p99 (ms)", "prometheus_p99_ms", "%.1f"),
            new Row("as Prometheus scrapes: bytes on the wire (gzip)", "prometheus_wire_bytes", "%.0f"),
            new Row("queries / scrape", "queries_per_scrape", "%.1f"),
            new Row("new connections / scrape", "connections_per_scrape", "%.2f"),
            new Row("backends held (max)", "most_backends_held", "%.0f"),
            new Row("exporter CPU ms / scrape", "exporter_cpu_ms_per_scrape", "%.1f"),
            new Row("server backend CPU ms / scrape", "backend_cpu_ms_per_scrape", "%.1f"),
            new Row("server execution ms / scrape (pg_stat_statements)", "server_exec_ms_per_scrape", "%.1f"),
            new Row("VmRSS after run (MiB)", "rss_end_kb", "mb"), new Row("VmRSS max sampled (MiB)", "rss_max_sampled_kb", "mb"),
            new Row("VmHWM peak (MiB)", "hwm_kb", "mb"), new Row("series", "series", "%.0f"), new Row("families", "families", "%.0f"),
            new Row("settings families (pg_settings_*)", "settings_families", "%.0f"),
            new Row("other PostgreSQL families", "diagnostic_families", "%.0f"));

    private ScenarioReport() {
    }

    @SuppressWarnings("unchecked")
    static void print(Map<String, Object> s, PrintStream report) {
        Map<String, Map<String, Object>> exporters = (Map<String, Map<String, Object>>) s.get("exporters");
        Map<String, Object> o = exporters.get("ours");
        Map<String, Object> t = exporters.get("postgres_exporter");
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%n### %s (%d scrapes each, load %.2f -> %.2f)%n%n", s.get("name"), (Integer) s.get("scrapes"),
                ((double[]) s.get("loadavg_before"))[0], ((double[]) s.get("loadavg_after"))[0]));
        out.append("| | pg-batch-exporter | postgres_exporter 0.11 | ours / theirs |\n|---|---:|---:|---:|\n");
        for (Row row : ROWS) {
            double a = number(o.get(row.key()));
            double b = number(t.get(row.key()));
            String fa = row.format().equals("mb") ? String.format(Locale.ROOT, "%.1f", a / 1024) : String.format(Locale.ROOT, row.format(), a);
            String fb = row.format().equals("mb") ? String.format(Locale.ROOT, "%.1f", b / 1024) : String.format(Locale.ROOT, row.format(), b);
            out.append(String.format(Locale.ROOT, "| %s | %s | %s | %.2f |%n", row.title(), fa, fb, Stats.ratio(a, b)));
        }
        Map<String, Object> between = (Map<String, Object>) s.get("between_scrapes");
        Map<String, Object> bo = (Map<String, Object>) between.get("ours");
        Map<String, Object> bt = (Map<String, Object>) between.get("postgres_exporter");
        out.append(String.format(Locale.ROOT, "%nbetween scrapes (%.0f s, nobody scraping): role statements %.2f/s, server execution %.2f ms/s; "
                        + "ours: CPU %.2f ms/s, backends CPU %.2f ms/s, %d sessions; postgres_exporter: CPU %.2f ms/s, "
                        + "backends CPU %.2f ms/s, %d sessions (per-scrape numbers above are net of these rates)%n",
                number(between.get("seconds")), number(between.get("role_statements_per_s")), number(between.get("role_exec_ms_per_s")),
                number(bo.get("exporter_cpu_ms_per_s")), number(bo.get("backend_cpu_ms_per_s")), (Integer) bo.get("backends"),
                number(bt.get("exporter_cpu_ms_per_s")), number(bt.get("backend_cpu_ms_per_s")), (Integer) bt.get("backends")));
        out.append("our scrape, p50 ms: ").append(((Map<String, Double>) s.get("ours_breakdown_ms")).entrySet().stream()
                .map(e -> String.format(Locale.ROOT, "%s %.1f", e.getKey(), e.getValue())).collect(Collectors.joining(", "))).append('\n');
        out.append("our collectors, mean ms per scrape: ").append(((Map<String, Map<String, Double>>) s.get("ours_collector_ms")).entrySet()
                .stream().map(e -> String.format(Locale.ROOT, "%s %.2f", e.getKey(), e.getValue().get("mean"))).collect(Collectors.joining(", ")))
                .append('\n');
        report.print(out);
        System.out.print(out);
    }

    static double number(Object value) {
        return value == null ? Double.NaN : ((Number) value).doubleValue();
    }
}
