package io.pgbatchtelemetry.exporter.collector;

import io.pgbatchtelemetry.exporter.collector.SettingUnit.Dimension;
import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.db.SqlRow;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A fixed list of server settings from {@code pg_settings}, in base units, so that alerts and
 * dashboards can put a measurement next to the limit it runs into (WAL written vs
 * {@code max_wal_size}, spills vs {@code work_mem}, checkpoint spacing vs
 * {@code checkpoint_timeout}) and tell whether timings are tracked at all.
 *
 * <p>Names follow postgres_exporter: {@code pg_settings_<name>} plus {@code _bytes} or
 * {@code _seconds} when the setting has a unit, the value converted by {@link SettingUnit} from
 * {@code pg_settings.unit}; booleans are 1/0. A unit-bearing setting at -1 ("use another setting"
 * or "no limit": {@code autovacuum_work_mem}, {@code temp_file_limit},
 * {@code autovacuum_vacuum_cost_delay}) is exported as -1 unconverted. The enum
 * {@code synchronous_commit} is one series, {@code pg_settings_synchronous_commit{setting="on"} 1}.
 *
 * <p>{@code pg_settings} builds every setting before any filter applies (the costliest small
 * statement of a scrape, docs/benchmarks.md), and what a session sees changes only when the
 * server reloads its configuration or the session is new. So the rows are read again only when
 * the scrape's probe reports another {@link PgServer#settingsGeneration()} (backend pid and
 * {@code pg_conf_load_time()}); other scrapes serve the samples read last. A reload (SIGHUP,
 * {@code pg_reload_conf()}), a restart and a new pooled connection all change the generation.
 *
 * <p>Versions: every setting here exists with the same unit on PostgreSQL 15–18, so the suffix is
 * fixed in the table below. Should a future server report a unit of another dimension (or one not
 * known to {@link SettingUnit}), that setting is skipped with a warning rather than exported under
 * a name whose unit lies.
 */
public final class SettingsCollector implements Collector {

    private static final Logger LOG = LoggerFactory.getLogger(SettingsCollector.class);

    /** One exported setting: its pg_settings name, the dimension its metric name promises, the family. */
    record TrackedSetting(String name, Dimension dimension, MetricFamily family) {

        static TrackedSetting of(String name, Dimension dimension) {
            return new TrackedSetting(name, dimension, MetricFamily.gauge(
                    "pg_settings_" + name + dimension.suffix(), "Server setting " + name
                            + (dimension == Dimension.NONE ? "" : " in " + dimension.name().toLowerCase())
                            + " (pg_settings)."));
        }
    }

    private static final List<TrackedSetting> TRACKED = List.of(
            TrackedSetting.of("max_wal_size", Dimension.BYTES),
            TrackedSetting.of("min_wal_size", Dimension.BYTES),
            TrackedSetting.of("checkpoint_timeout", Dimension.SECONDS),
            TrackedSetting.of("checkpoint_completion_target", Dimension.NONE),
            TrackedSetting.of("checkpoint_warning", Dimension.SECONDS),
            TrackedSetting.of("shared_buffers", Dimension.BYTES),
            TrackedSetting.of("wal_buffers", Dimension.BYTES),
            TrackedSetting.of("work_mem", Dimension.BYTES),
            TrackedSetting.of("maintenance_work_mem", Dimension.BYTES),
            TrackedSetting.of("autovacuum_work_mem", Dimension.BYTES),
            TrackedSetting.of("temp_file_limit", Dimension.BYTES),
            TrackedSetting.of("track_io_timing", Dimension.NONE),
            TrackedSetting.of("track_wal_io_timing", Dimension.NONE),
            TrackedSetting.of("autovacuum", Dimension.NONE),
            TrackedSetting.of("autovacuum_max_workers", Dimension.NONE),
            TrackedSetting.of("autovacuum_naptime", Dimension.SECONDS),
            TrackedSetting.of("autovacuum_vacuum_cost_delay", Dimension.SECONDS),
            TrackedSetting.of("autovacuum_vacuum_cost_limit", Dimension.NONE),
            TrackedSetting.of("autovacuum_vacuum_threshold", Dimension.NONE),
            TrackedSetting.of("autovacuum_vacuum_scale_factor", Dimension.NONE),
            TrackedSetting.of("autovacuum_analyze_threshold", Dimension.NONE),
            TrackedSetting.of("autovacuum_analyze_scale_factor", Dimension.NONE),
            TrackedSetting.of("bgwriter_delay", Dimension.SECONDS),
            TrackedSetting.of("bgwriter_lru_maxpages", Dimension.NONE),
            TrackedSetting.of("bgwriter_lru_multiplier", Dimension.NONE),
            TrackedSetting.of("max_connections", Dimension.NONE),
            TrackedSetting.of("deadlock_timeout", Dimension.SECONDS),
            TrackedSetting.of("fsync", Dimension.NONE),
            TrackedSetting.of("full_page_writes", Dimension.NONE));

    private static final Map<String, TrackedSetting> BY_NAME =
            TRACKED.stream().collect(Collectors.toUnmodifiableMap(TrackedSetting::name, Function.identity()));

    private static final String SYNCHRONOUS_COMMIT_NAME = "synchronous_commit";

    static final MetricFamily SYNCHRONOUS_COMMIT = MetricFamily.gauge("pg_settings_synchronous_commit",
            "Always 1; the setting label is the value of synchronous_commit (pg_settings).", "setting");

    // The names are constants of this class, never user input, so they are inlined rather than bound.
    private static final VersionedSql SETTINGS = VersionedSql.of(15,
            "SELECT name, setting, unit, vartype FROM pg_settings WHERE name IN ("
                    + TRACKED.stream().map(t -> "'" + t.name() + "'").collect(Collectors.joining(", "))
                    + ", '" + SYNCHRONOUS_COMMIT_NAME + "')");

    /** The family of a tracked setting, e.g. {@code pg_settings_max_wal_size_bytes} for max_wal_size. */
    static MetricFamily familyOf(String settingName) {
        TrackedSetting tracked = BY_NAME.get(settingName);
        if (tracked == null) {
            throw new IllegalArgumentException(settingName + " is not a tracked setting");
        }
        return tracked.family();
    }

    /** The names of the tracked numeric and boolean settings, in table order. */
    static List<String> trackedNames() {
        return TRACKED.stream().map(TrackedSetting::name).toList();
    }

    @Override
    public String name() {
        return "settings";
    }

    @Override
    public List<MetricFamily> families() {
        List<MetricFamily> families = new ArrayList<>();
        TRACKED.forEach(t -> families.add(t.family()));
        families.add(SYNCHRONOUS_COMMIT);
        return List.copyOf(families);
    }

    /** The samples read for one settings generation; replaced, never changed. */
    private record Cached(String generation, MetricSink samples) {}

    /** One entry: a scrape's connection stays the same until the pool replaces it. */
    private volatile Cached cached;

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return cachedFor(server) != null ? List.of() : List.of(SETTINGS);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        Cached current = cachedFor(results.server());
        if (current == null) {
            MetricSink read = new MetricSink();
            read(results, read);
            current = new Cached(results.server().settingsGeneration(), read);
            cached = current;
        }
        sink.addAll(current.samples());
    }

    /** The samples read last, if they are of the settings generation this scrape's session sees. */
    private Cached cachedFor(PgServer server) {
        Cached current = cached;
        return current != null && current.generation().equals(server.settingsGeneration()) ? current : null;
    }

    private static void read(StatementResults results, MetricSink sink) throws SQLException {
        results.rows(SETTINGS, row -> {
            String name = row.text("name");
            if (SYNCHRONOUS_COMMIT_NAME.equals(name)) {
                sink.add(SYNCHRONOUS_COMMIT, 1.0, row.text("setting"));
                return;
            }
            TrackedSetting tracked = BY_NAME.get(name);
            Optional<SettingUnit> unit = SettingUnit.parse(row.text("unit"));
            if (unit.isEmpty() || unit.get().dimension() != tracked.dimension()) {
                LOG.warn("setting {} has unit '{}' on this server, not {}: not exported as {}",
                        name, row.text("unit"), tracked.dimension(), tracked.family().name());
                return;
            }
            sink.add(tracked.family(), value(row, unit.get()));
        });
    }

    private static Double value(SqlRow row, SettingUnit unit) throws SQLException {
        String setting = row.text("setting");
        if ("bool".equals(row.text("vartype"))) {
            return "on".equals(setting) ? 1.0 : 0.0;
        }
        return unit.toBaseUnits(Double.parseDouble(setting));
    }
}
