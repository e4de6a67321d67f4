package io.pgbatchtelemetry.exporter.it;

import io.pgbatchtelemetry.exporter.collector.Collector;
import io.pgbatchtelemetry.exporter.db.PgServer;
import io.pgbatchtelemetry.exporter.db.PgSession.RowVisitor;
import io.pgbatchtelemetry.exporter.db.StatementResults;
import io.pgbatchtelemetry.exporter.db.VersionedSql;
import io.pgbatchtelemetry.exporter.metrics.MetricFamily;
import io.pgbatchtelemetry.exporter.metrics.MetricSink;
import java.sql.SQLException;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A collector around one query, for tests that need a collector to be slow, or to carry labels
 * straight from catalog names: column {@code n} is the value, the other listed columns are labels.
 */
public final class SqlTestCollector implements Collector {

    private final String name;
    private final VersionedSql sql;
    private final MetricFamily family;
    private final AtomicInteger calls = new AtomicInteger();
    private final boolean announced;

    public SqlTestCollector(String name, String sql, String... labelColumns) {
        this(false, name, sql, labelColumns);
    }

    private SqlTestCollector(boolean announced, String name, String sql, String... labelColumns) {
        this.announced = announced;
        this.name = name;
        this.sql = VersionedSql.of(sql);
        this.family = MetricFamily.gauge("pgbt_test_" + name, "test collector " + name, labelColumns);
    }

    /** One whose query is sent with the built-in collectors' in the scrape's prefetch round trip. */
    public static SqlTestCollector announced(String name, String sql, String... labelColumns) {
        return new SqlTestCollector(true, name, sql, labelColumns);
    }

    @Override
    public List<VersionedSql> statements(PgServer server) {
        return announced ? List.of(sql) : List.of();
    }

    public int calls() {
        return calls.get();
    }

    public MetricFamily family() {
        return family;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public List<MetricFamily> families() {
        return List.of(family);
    }

    @Override
    public void collect(StatementResults results, MetricSink sink) throws SQLException {
        calls.incrementAndGet();
        RowVisitor visitor = row -> {
            String[] labels = new String[family.labelNames().size()];
            for (int i = 0; i < labels.length; i++) {
                labels[i] = row.text(family.labelNames().get(i));
            }
            sink.add(family, row.number("n"), labels);
        };
        if (announced) {
            results.rows(sql, visitor);
        } else {
            results.followUp(sql, visitor);
        }
    }
}
