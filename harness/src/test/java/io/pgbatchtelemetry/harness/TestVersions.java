package io.pgbatchtelemetry.harness;

import java.util.List;

/** Picks the version a single-version test runs on, honouring PGBT_PG_VERSIONS. */
final class TestVersions {

    private TestVersions() {
    }

    /** The preferred version when it is configured, otherwise the newest configured one. */
    static int preferring(int preferred) {
        List<Integer> versions = SharedClusters.versions();
        return versions.contains(preferred) ? preferred : versions.get(versions.size() - 1);
    }
}
