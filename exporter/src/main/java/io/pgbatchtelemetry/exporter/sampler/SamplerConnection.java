package io.pgbatchtelemetry.exporter.sampler;

import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import java.sql.Connection;
import java.sql.SQLException;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Opens the sampler's own connection, outside the scrape pool.
 *
 * <p>The sampler holds one connection for as long as it works; borrowing from the scrape pool
 * would take one of its three connections for good, and a scrape could then wait for the sampler.
 * The connection has the same settings as the pool's (URL, user, password, timeouts), an
 * {@code application_name} of its own ({@code <application-name>-sampler}) so DBAs can tell it
 * apart, and a socket timeout so a network stall turns into an error and a reconnect. The password
 * is a driver property, never part of a URL that could be logged.
 */
final class SamplerConnection {

    private final PGSimpleDataSource dataSource = new PGSimpleDataSource();
    private final String applicationName;

    SamplerConnection(ExporterSettings.DataSource source, ExporterSettings.Scrape scrape) {
        this.applicationName = source.applicationName() + "-sampler";
        dataSource.setURL(source.jdbcUrl());
        if (!source.user().isEmpty()) {
            dataSource.setUser(source.user());
        }
        if (!source.password().isEmpty()) {
            dataSource.setPassword(source.password());
        }
        dataSource.setApplicationName(applicationName);
        dataSource.setOptions("-c statement_timeout=" + scrape.statementTimeout().toMillis()
                + " -c lock_timeout=" + scrape.lockTimeout().toMillis());
        dataSource.setConnectTimeout((int) Math.max(1, source.connectTimeout().toSeconds()));
        dataSource.setSocketTimeout((int) Math.max(2, scrape.statementTimeout().toSeconds() * 2));
        dataSource.setTcpKeepAlive(true);
        dataSource.setReadOnly(true);
    }

    String applicationName() {
        return applicationName;
    }

    Connection open() throws SQLException {
        Connection connection = dataSource.getConnection();
        connection.setAutoCommit(true);
        return connection;
    }
}
