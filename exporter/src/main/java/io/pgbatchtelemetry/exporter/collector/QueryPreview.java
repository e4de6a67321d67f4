package io.pgbatchtelemetry.exporter.collector;

/**
 * A short, sanitised preview of a statement's text for a label value: comments removed, string
 * and numeric literals replaced by {@code ?} (pg_stat_statements normalises constants to
 * {@code $n}, but an entry created while its statement ran keeps the literal text), whitespace
 * collapsed, control characters dropped, cut at {@code maxChars} code points.
 */
final class QueryPreview {

    private QueryPreview() {}

    static String of(String query, int maxChars) {
        if (query == null) {
            return "";
        }
        String s = query.replaceAll("(?s)/\\*.*?\\*/", " ")
                .replaceAll("--[^\\n]*", " ")
                .replaceAll("(?s)'(?:[^']|'')*'", "?")
                .replaceAll("(?s)\\$([A-Za-z_]*)\\$.*?\\$\\1\\$", "?")
                .replaceAll("(?<![\\w$])\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?", "?")
                .replaceAll("\\p{Cntrl}", " ")
                .replaceAll("\\s+", " ")
                .strip();
        if (s.codePointCount(0, s.length()) <= maxChars) {
            return s;
        }
        return s.substring(0, s.offsetByCodePoints(0, maxChars - 1)) + "…";
    }
}
