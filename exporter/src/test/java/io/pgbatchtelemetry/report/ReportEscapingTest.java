package io.pgbatchtelemetry.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Pure mapping: the escaping of values into Markdown and of chart data into a script element, and the version check. */
class ReportEscapingTest {

    @Test
    void markdownEscapesMarkupTablesAndLineBreaks() {
        assertEquals("&lt;script&gt;alert(1)&lt;/script&gt;", MarkdownReport.escape("<script>alert(1)</script>"));
        assertEquals("a \\| b c", MarkdownReport.escape("a | b\nc"));
        assertEquals("work\\_mem \\*x\\* \\`q\\` \\[l\\](u)", MarkdownReport.escape("work_mem *x* `q` [l](u)"));
    }

    @Test
    void chartDataCannotCloseItsScriptElement() {
        String safe = RunReport.scriptSafe("{\"q\":\"</script><script>alert(1)</script>&\\u2028\"}");
        assertFalse(safe.contains("<") || safe.contains(">") || safe.contains("&"), safe);
        assertTrue(safe.contains("\\u003c/script\\u003e"), safe);
    }

    @Test
    void anUnknownFormatVersionIsRefusedInOneLine() {
        ReportException e = assertThrows(ReportException.class, () -> RunReport.parse("{\"format_version\": 2}"));
        assertTrue(e.getMessage().contains("format_version 2"), e.getMessage());
        assertThrows(ReportException.class, () -> RunReport.parse("not json"));
    }
}
