package io.pgbatchtelemetry.exporter.collector;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * The one table of collectors: name, whether it runs by default, and how to make it.
 *
 * <p>Config validation reads the names from here, so an unknown collector name in config fails
 * at start-up instead of silently collecting nothing. Whether a collector is on by default is
 * said once, in {@code reference.conf} (a test checks that both list the same names).
 */
public final class CollectorCatalog {

    /** One row of the table. */
    public record Entry(String name, Supplier<Collector> factory) {}

    private static final List<Entry> ENTRIES = List.of(
            new Entry("wal", WalCollector::new),
            new Entry("checkpoints", CheckpointCollector::new),
            new Entry("bgwriter", BgwriterCollector::new),
            new Entry("replication", ReplicationCollector::new),
            new Entry("database", DatabaseCollector::new),
            new Entry("io", IoCollector::new),
            new Entry("activity", ActivityCollector::new),
            new Entry("locks", LockCollector::new),
            new Entry("progress", ProgressCollector::new),
            new Entry("settings", SettingsCollector::new),
            new Entry("telemetry_batches", TelemetryBatchesCollector::new),
            new Entry("telemetry_tables", TelemetryTablesCollector::new),
            new Entry("telemetry_health", TelemetryHealthCollector::new)
    );

    private CollectorCatalog() {}

    public static List<Entry> entries() {
        return ENTRIES;
    }

    public static Set<String> names() {
        return ENTRIES.stream().map(Entry::name).collect(Collectors.toCollection(LinkedHashSet::new));
    }

    /** Creates the collectors whose names are in {@code enabled}, in table order. */
    public static List<Collector> create(Set<String> enabled) {
        Map<String, Collector> created = new LinkedHashMap<>();
        for (Entry entry : ENTRIES) {
            if (enabled.contains(entry.name())) {
                created.put(entry.name(), entry.factory().get());
            }
        }
        return List.copyOf(created.values());
    }
}
