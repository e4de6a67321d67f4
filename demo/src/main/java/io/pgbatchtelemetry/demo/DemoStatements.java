package io.pgbatchtelemetry.demo;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.util.ArrayList;
import java.util.List;

/**
 * The slow run's statements against a baseline run, as {@code telemetry.statement_compare_runs()} ranks them,
 * in lines for the terminal: verdict, share of the extra time, calls and mean time on both sides, the text, and
 * the two one-line plans ({@code capture_plans()}) when they were captured.
 *
 * <p>The baseline run is the one the slow run's report compares statements with ({@code run_report()}'s
 * {@code statements.baseline_run_id}), so what the demo prints and what its report shows are the same rows.
 */
final class DemoStatements {

    /** How many of the ranked statements the demo prints (the report has up to 20). */
    static final int TOP = 5;
    private static final int TEXT_CHARS = 110;

    private DemoStatements() {}

    /** The run the report of {@code slowRun} compares statements with, or null with the report's reason. */
    record Baseline(Long runId, String unavailable) {}

    static Baseline reportBaseline(Connection connection, long slowRun) throws SQLException {
        try (PreparedStatement s = connection.prepareStatement(
                "SELECT r #>> '{statements,baseline_run_id}', r #>> '{statements,reason}' FROM telemetry.run_report(?) r")) {
            s.setLong(1, slowRun);
            try (ResultSet r = s.executeQuery()) {
                r.next();
                return r.getString(1) == null ? new Baseline(null, r.getString(2)) : new Baseline(Long.parseLong(r.getString(1)), null);
            }
        }
    }

    /** The top {@link #TOP} statements of the comparison, a few lines each, then the function's warnings (incomplete data). */
    static List<String> compare(Connection connection, long baselineRun, long slowRun) throws SQLException {
        List<String> lines = new ArrayList<>();
        try (PreparedStatement s = connection.prepareStatement(
                "SELECT rank, verdict, share_of_extra_pct, baseline_calls, slow_calls, baseline_mean_ms, slow_mean_ms,"
                        + " queryid, baseline_plan, slow_plan, query"
                        + " FROM telemetry.statement_compare_runs(?, ?) WHERE queryid IS NOT NULL ORDER BY rank LIMIT " + TOP)) {
            s.setLong(1, baselineRun);
            s.setLong(2, slowRun);
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    lines.add(r.getInt("rank") + ". " + r.getString("verdict") + ", " + number(r.getBigDecimal("share_of_extra_pct"))
                            + " % of the extra time: queryid " + r.getLong("queryid") + " " + preview(r.getString("query")));
                    lines.add("   calls " + number(r.getBigDecimal("baseline_calls")) + " -> " + number(r.getBigDecimal("slow_calls"))
                            + ", mean " + number(r.getBigDecimal("baseline_mean_ms")) + " -> " + number(r.getBigDecimal("slow_mean_ms")) + " ms");
                    String before = r.getString("baseline_plan");
                    String after = r.getString("slow_plan");
                    if (before != null && before.equals(after)) {
                        lines.add("   plan, the same in both runs: " + before);
                    } else if (before != null || after != null) {
                        lines.add("   plan in baseline run " + baselineRun + ": " + orNotCaptured(before));
                        lines.add("   plan in slow run " + slowRun + ":     " + orNotCaptured(after));
                    }
                }
            }
            for (SQLWarning w = s.getWarnings(); w != null; w = w.getNextWarning()) {
                lines.add("WARNING: " + w.getMessage());
            }
        }
        return lines;
    }

    private static String orNotCaptured(String plan) {
        return plan == null ? "(not captured)" : plan;
    }

    private static String number(BigDecimal value) {
        return value == null ? "-" : value.stripTrailingZeros().toPlainString();
    }

    /** The statement's text on one line, cut where a terminal line would wrap. */
    static String preview(String query) {
        if (query == null) {
            return "(text not stored)";
        }
        String line = query.strip().replaceAll("\\s+", " ");
        return line.length() <= TEXT_CHARS ? line : line.substring(0, TEXT_CHARS - 3) + "...";
    }
}
