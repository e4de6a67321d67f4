package io.pgbatchtelemetry.exporter;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The Maven project version, filtered into a resource at build time. */
public final class BuildVersion {

    private BuildVersion() {}

    public static String get() {
        try (InputStream in = BuildVersion.class.getResourceAsStream("/pg-batch-exporter-version.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties properties = new Properties();
            properties.load(in);
            return properties.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
