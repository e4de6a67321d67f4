package io.pgbatchtelemetry.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The report's command line splits options by the exporter's rule (LongOptions): both spellings, -h, no value stolen from the next option. */
class ReportArgumentsTest {

    @Test
    void optionsSplitAsTheExportersDo() {
        ReportArguments report = ReportArguments.parse(List.of("--run", "7", "--format=md", "--web.telemetry-path", "/m"));
        assertEquals(7L, report.runId());
        assertEquals("md", report.format());
        assertEquals("/m", report.overrides().get("web.telemetry-path"));
        ReportException missing = assertThrows(ReportException.class, () -> ReportArguments.parse(List.of("--run", "--format=md")));
        assertEquals("--run: needs a value", missing.getMessage());
        ReportException stray = assertThrows(ReportException.class, () -> ReportArguments.parse(List.of("--run", "7", "stray", "x")));
        assertEquals("unexpected argument 'stray' (see report --help)", stray.getMessage());
        assertTrue(ReportArguments.parse(List.of("-h")).help());
    }
}
