package io.pgbatchtelemetry.harness;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What a cluster was asked to be: its version, a name (used in its directory, in
 * {@code cluster_name}, and so as the {@code application_name} of a standby's walreceiver), and
 * the settings given to the builder.
 */
record ClusterSpec(int major, String name, Map<String, String> settings, boolean preloadPgCron) {

    private static final Pattern SAFE_NAME = Pattern.compile("[a-z0-9_-]{1,30}");

    ClusterSpec {
        if (!SAFE_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("cluster name must match " + SAFE_NAME
                    + " (it becomes a directory, cluster_name and application_name): '" + name + "'");
        }
        settings = Collections.unmodifiableMap(new LinkedHashMap<>(settings));
    }

    /** The same server, named differently: what a standby of this cluster runs with. */
    ClusterSpec named(String newName) {
        return new ClusterSpec(major, newName, settings, preloadPgCron);
    }
}
