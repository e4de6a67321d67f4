package io.pgbatchtelemetry.exporter.config;

/**
 * Invalid configuration: the message names the key and the problem, in one line, and never
 * contains a password. {@code Main} prints it and exits with status 2.
 */
public final class ConfigException extends RuntimeException {

    public ConfigException(String message) {
        super(message);
    }

    public static ConfigException forKey(String key, String problem) {
        return new ConfigException(key + ": " + problem);
    }
}
