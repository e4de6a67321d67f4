package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The test's stand-in for Grafana's variable interpolation: pure string mapping, checked against Grafana's rules. */
class GrafanaTemplateTest {

    private static GrafanaTemplate template(Map<String, GrafanaTemplate.Value> variables) {
        return GrafanaTemplate.of(variables, Duration.ofMinutes(10), Duration.ofSeconds(15), Duration.ofSeconds(15));
    }

    @Test
    void regexFormatEscapesEachValueAndJoinsSeveral() {
        GrafanaTemplate t = template(Map.of(
                "one", GrafanaTemplate.Value.single("nightly.load (eu)"),
                "two", GrafanaTemplate.Value.of("a.b", "c|d"),
                "all", GrafanaTemplate.Value.all(".*", "x", "y"),
                "allOptions", GrafanaTemplate.Value.all(null, "x.1", "y")));
        assertEquals("batch=~`nightly\\.load \\(eu\\)`", t.interpolate("batch=~`${one:regex}`"));
        assertEquals("(a\\.b|c\\|d)", t.interpolate("${two:regex}"));
        assertEquals(".*", t.interpolate("${all:regex}"), "a custom all value is not escaped");
        assertEquals("(x\\.1|y)", t.interpolate("${allOptions:regex}"));
    }

    @Test
    void theEscapedValueMatchesOnlyItselfAsAnRe2StyleAnchoredRegex() {
        String name = "nightly.load+[x]/y{2}^$";
        String escaped = GrafanaTemplate.regexEscape(name);
        assertEquals(true, Pattern.matches(escaped, name));
        assertEquals(false, Pattern.matches(escaped, "nightlyXload+[x]/y{2}^$"));
        assertEquals(false, Pattern.matches(GrafanaTemplate.regexEscape("nightly.load"), "nightly-load"));
    }

    @Test
    void defaultFormatIsThePrometheusDataSources() {
        GrafanaTemplate t = template(Map.of("single", GrafanaTemplate.Value.single("it's a\\b"),
                "multi", GrafanaTemplate.Value.of("a.b", "c")));
        assertEquals("it\\\\'s a\\\\b", t.interpolate("$single"));
        assertEquals("(a\\\\.b|c)", t.interpolate("${multi}"));
    }

    @Test
    void builtInsComeFromRangeIntervalAndScrapeInterval() {
        GrafanaTemplate t = template(Map.of());
        assertEquals("rate(x[60s])[600s:15s] * 15000 / 1000 600",
                t.interpolate("rate(x[$__rate_interval])[$__range:$__interval] * $__interval_ms / 1000 $__range_s"));
        GrafanaTemplate wide = GrafanaTemplate.of(Map.of(), Duration.ofHours(1), Duration.ofSeconds(60), Duration.ofSeconds(15));
        assertEquals("75s", wide.interpolate("$__rate_interval"), "interval + scrape when that exceeds 4 scrapes");
        assertEquals("7200s", wide.withRange(Duration.ofHours(2)).interpolate("$__range"));
        assertEquals("[60s] 60000 75s", t.withMinInterval(Duration.ofMinutes(1)).interpolate("[$__interval] $__interval_ms $__rate_interval"),
                "a panel's minimum interval raises $__interval");
        assertEquals(Duration.ofDays(7), GrafanaTemplate.parseDuration("7d"));
        assertEquals("15s", t.withMinInterval(Duration.ofSeconds(5)).interpolate("$__interval"), "but never lowers it");
    }

    @Test
    void unknownVariablesAndFormatsFailLoudly() {
        GrafanaTemplate t = template(Map.of("v", GrafanaTemplate.Value.single("x")));
        assertThrows(IllegalArgumentException.class, () -> t.interpolate("$nope"));
        assertThrows(IllegalArgumentException.class, () -> t.interpolate("${v:csv}"));
    }
}
