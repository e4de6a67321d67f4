package io.pgbatchtelemetry.exporter.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.collector.CollectorCatalog;
import io.pgbatchtelemetry.exporter.collector.CollectorOptions;
import io.pgbatchtelemetry.exporter.scrape.SelfMetrics;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * docs/metrics.md stays true: every family the code can expose has a row, and every row names a
 * family the code has. Type and labels in the row match the declaration.
 */
class MetricsDocTest {

    /** A table row: | `name` | type | labels | ... */
    private static final Pattern ROW = Pattern.compile("^\\| `([a-z_:][a-z0-9_:]*)` \\| (counter|gauge|info) \\| ([^|]*) \\|", Pattern.MULTILINE);

    @Test
    void everyFamilyIsDocumentedWithItsTypeAndLabels() throws IOException {
        String doc = Files.readString(Path.of("..", "docs", "metrics.md"));
        Set<String> documented = new TreeSet<>();
        java.util.Map<String, MetricFamily> declared = new java.util.TreeMap<>();
        SelfMetrics.FAMILIES.forEach(f -> declared.put(f.name(), f));
        java.util.List.of(LabelBounds.TRUNCATED, LabelBounds.DROPPED).forEach(f -> declared.put(f.name(), f));
        CollectorCatalog.entries().forEach(e -> e.create(CollectorOptions.UNCACHED).families().forEach(f -> declared.put(f.name(), f)));

        Matcher m = ROW.matcher(doc);
        while (m.find()) {
            String name = m.group(1);
            documented.add(name);
            MetricFamily family = declared.get(name);
            assertTrue(family != null, "docs/metrics.md documents " + name + ", which the exporter does not have");
            assertEquals(family.type().name().toLowerCase(java.util.Locale.ROOT), m.group(2), "type of " + name);
            Set<String> labels = new TreeSet<>();
            for (String label : m.group(3).replace("`", "").split(",")) {
                if (!label.isBlank() && !label.strip().equals("—")) {
                    labels.add(label.strip());
                }
            }
            assertEquals(new TreeSet<>(family.labelNames()), labels, "labels of " + name);
        }
        Set<String> missing = new TreeSet<>(declared.keySet());
        missing.removeAll(documented);
        assertTrue(missing.isEmpty(), "families missing from docs/metrics.md: " + missing);
    }
}
