package io.pgbatchtelemetry.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Counts in a Prometheus text exposition (series, families with samples, one metric's samples), for comparing
 * what two exporters expose. Reading only: the exporter writes its exposition with the Prometheus client library.
 */
public final class Exposition {
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*\\})?\\s+(\\S+)");
    private static final List<String> SAMPLE_SUFFIXES = List.of("", "_total", "_info", "_count", "_sum", "_bucket", "_created");
    /**
     * Families about the exporter itself rather than PostgreSQL (Go runtime, HTTP handler, scrape and sampler
     * bookkeeping): counted apart so "diagnostic families" compares PostgreSQL content only.
     */
    private static final Pattern SELF_FAMILY = Pattern.compile(
            "^(go_|process_|promhttp_|pg_exporter_|postgres_exporter_|pg_scrape_|pg_sampler_|pg_up$|pg_static$)");

    private final String body;

    public Exposition(String body) {
        this.body = body;
    }

    public List<String> seriesLines() {
        return body.lines().filter(line -> !line.isEmpty() && !line.startsWith("#")).toList();
    }

    /** Series identities (name and labels), to see which appear or go between two scrapes. */
    public Set<String> seriesIdentities() {
        Set<String> ids = new LinkedHashSet<>();
        for (String line : seriesLines()) {
            Matcher m = SAMPLE.matcher(line);
            if (m.find()) {
                ids.add(m.group(1) + (m.group(2) == null ? "" : m.group(2)));
            }
        }
        return ids;
    }

    /** Families with at least one sample (a # TYPE line whose name, or name plus a type suffix, has a sample). */
    public List<String> families() {
        Set<String> sampled = new LinkedHashSet<>();
        for (String line : seriesLines()) {
            Matcher m = SAMPLE.matcher(line);
            if (m.find()) {
                sampled.add(m.group(1));
            }
        }
        List<String> out = new ArrayList<>();
        body.lines().filter(line -> line.startsWith("# TYPE ")).map(line -> line.split("\\s+")[2])
                .filter(family -> SAMPLE_SUFFIXES.stream().anyMatch(suffix -> sampled.contains(family + suffix)))
                .forEach(out::add);
        return out;
    }

    /**
     * PostgreSQL families other than one-per-setting gauges (postgres_exporter exports every pg_settings row as
     * its own family; ours a chosen few): the families that describe activity.
     */
    public List<String> diagnosticFamilies() {
        return families().stream().filter(f -> !SELF_FAMILY.matcher(f).find() && !f.startsWith("pg_settings_")).sorted().toList();
    }

    public List<String> settingsFamilies() {
        return families().stream().filter(f -> f.startsWith("pg_settings_")).sorted().toList();
    }

    /** The samples of one metric, by their label set ("" without labels). */
    public Map<String, Double> samples(String metric) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String line : seriesLines()) {
            Matcher m = SAMPLE.matcher(line);
            if (m.find() && m.group(1).equals(metric)) {
                out.put(m.group(2) == null ? "" : m.group(2), Double.parseDouble(m.group(3)));
            }
        }
        return out;
    }
}
