package io.pgbatchtelemetry.report;

import gg.jte.ContentType;
import gg.jte.TemplateEngine;
import gg.jte.output.StringOutput;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Renders a {@link RunReport} as one self-contained HTML file: the jte template
 * {@code report.jte} (precompiled at build time, so no compiler at run time; every value
 * HTML-escaped by jte), uPlot's script and style from its webjar and the report's own script and
 * style, all inlined, with a Content-Security-Policy that forbids any network request, so the
 * file opens from {@code file://} or a ticket attachment exactly as written.
 */
public final class HtmlReport {

    static final String UPLOT = "META-INF/resources/webjars/uplot/1.6.30/dist/";

    private final TemplateEngine engine = TemplateEngine.createPrecompiled(ContentType.Html);

    /** The assets inlined into every report. */
    public record Assets(String uplotJs, String uplotCss, String reportJs, String reportCss) {}

    public String render(RunReport report) {
        Assets assets = new Assets(resource(UPLOT + "uPlot.iife.min.js"), resource(UPLOT + "uPlot.min.css"),
                resource("io/pgbatchtelemetry/report/report.js"), resource("io/pgbatchtelemetry/report/report.css"));
        StringOutput output = new StringOutput(64 * 1024);
        engine.render("report.jte", Map.of("report", report, "assets", assets), output);
        return output.toString();
    }

    private static String resource(String name) {
        try (InputStream in = HtmlReport.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing from the jar: " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
