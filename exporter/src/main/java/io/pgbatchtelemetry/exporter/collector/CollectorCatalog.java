package io.pgbatchtelemetry.exporter.collector;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
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
    public record Entry(String name, Function<CollectorOptions, Collector> factory) {

        public Collector create(CollectorOptions options) {
            return factory.apply(options);
        }
    }

    private static final List<Entry> ENTRIES = List.of(
            new Entry("wal", options -> new WalCollector()),
            new Entry("checkpoints", options -> new CheckpointCollector()),
            new Entry("bgwriter", options -> new BgwriterCollector()),
            new Entry("replication", options -> new ReplicationCollector()),
            new Entry("database", options -> new DatabaseCollector(options.databaseSizeInterval())),
            new Entry("io", options -> new IoCollector()),
            new Entry("activity", options -> new ActivityCollector()),
            new Entry("locks", options -> new LockCollector()),
            new Entry("progress", options -> new ProgressCollector()),
            new Entry("settings", options -> new SettingsCollector()),
            new Entry("telemetry_batches", options -> new TelemetryBatchesCollector()),
            new Entry("telemetry_runs", options -> new TelemetryRunsCollector()),
            new Entry("telemetry_tables", options -> new TelemetryTablesCollector()),
            new Entry("telemetry_health", options -> new TelemetryHealthCollector())
    );

    private CollectorCatalog() {}

    public static List<Entry> entries() {
        return ENTRIES;
    }

    public static Set<String> names() {
        return ENTRIES.stream().map(Entry::name).collect(Collectors.toCollection(LinkedHashSet::new));
    }

    /** Creates the collectors whose names are in {@code enabled}, in table order. */
    public static List<Collector> create(Set<String> enabled, CollectorOptions options) {
        Map<String, Collector> created = new LinkedHashMap<>();
        for (Entry entry : ENTRIES) {
            if (enabled.contains(entry.name())) {
                created.put(entry.name(), entry.create(options));
            }
        }
        return List.copyOf(created.values());
    }
}
