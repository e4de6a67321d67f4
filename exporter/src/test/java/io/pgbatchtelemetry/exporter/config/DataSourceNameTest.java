package io.pgbatchtelemetry.exporter.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Pure parsing of the three connection-string forms; no server needed. */
class DataSourceNameTest {

    @Test
    void libpqUriMovesCredentialsOutOfTheUrl() {
        DataSourceName dsn = DataSourceName.parse("k", "postgresql://batch%40ops:s%3Acret@db.example:6432/sales?sslmode=verify-full&sslrootcert=/etc/ca.pem");
        assertEquals("jdbc:postgresql://db.example:6432/sales?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem", dsn.jdbcUrl());
        assertEquals("batch@ops", dsn.user());
        assertEquals("s:cret", dsn.password());
    }

    @Test
    void postgresSchemeAndDefaultsWork() {
        DataSourceName dsn = DataSourceName.parse("k", "postgres://u@localhost");
        assertEquals("jdbc:postgresql://localhost/postgres", dsn.jdbcUrl());
        assertEquals("u", dsn.user());
        assertEquals("", dsn.password());
    }

    @Test
    void keyValueStringWithQuotedPassword() {
        DataSourceName dsn = DataSourceName.parse("k", "host=10.1.2.3 port=5433 dbname=app user=mon password='it\\'s a secret' sslmode=require connect_timeout=4");
        assertEquals("jdbc:postgresql://10.1.2.3:5433/app?sslmode=require&connectTimeout=4", dsn.jdbcUrl());
        assertEquals("mon", dsn.user());
        assertEquals("it's a secret", dsn.password());
    }

    @Test
    void strayQuoteIsAnErrorWithoutEchoingTheValue() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> DataSourceName.parse("k", "host=h password='hun''ter2 more' dbname=x"));
        assertFalse(e.getMessage().contains("ter2"), e.getMessage());
    }

    @Test
    void keyValueQuotedValueWithSpaces() {
        DataSourceName dsn = DataSourceName.parse("k", "host=h user=u password='a b\\' c'");
        assertEquals("a b' c", dsn.password());
    }

    @Test
    void jdbcUrlPasswordParameterIsLifted() {
        DataSourceName dsn = DataSourceName.parse("k", "jdbc:postgresql://h:5432/db?user=u&password=p&ssl=true");
        assertEquals("jdbc:postgresql://h:5432/db?ssl=true", dsn.jdbcUrl());
        assertEquals("u", dsn.user());
        assertEquals("p", dsn.password());
        assertFalse(dsn.toString().contains("=p,"), dsn.toString());
    }

    @Test
    void errorsNameTheKeyAndNeverEchoThePassword() {
        ConfigException empty = assertThrows(ConfigException.class, () -> DataSourceName.parse("data-source.url", " "));
        assertTrue(empty.getMessage().startsWith("data-source.url: empty"), empty.getMessage());

        ConfigException garbage = assertThrows(ConfigException.class, () -> DataSourceName.parse("data-source.url", "mysql://u:hunter2@h/db"));
        assertFalse(garbage.getMessage().contains("hunter2"), garbage.getMessage());

        ConfigException unterminated = assertThrows(ConfigException.class, () -> DataSourceName.parse("k", "host=h password='hunter2"));
        assertFalse(unterminated.getMessage().contains("hunter2"), unterminated.getMessage());

        ConfigException socket = assertThrows(ConfigException.class, () -> DataSourceName.parse("k", "host=/var/run/postgresql dbname=x"));
        assertTrue(socket.getMessage().contains("Unix-domain"), socket.getMessage());
    }
}
