package io.pgbatchtelemetry.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * {@code telemetry.baseline_runs(run_id)} for the end-to-end tests: the installed schema's own where it has one; until
 * sql/install.sql ships it (issue #15), the agreed definition from exporter/src/test/resources/baseline-runs-contract.sql,
 * said loudly on stderr. Never replaces an existing function.
 */
final class BaselineRunsFixture {

    private BaselineRunsFixture() {}

    static void ensure(Connection superuser) throws SQLException, IOException {
        try (Statement s = superuser.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                     + "WHERE n.nspname = 'telemetry' AND p.proname = 'baseline_runs'")) {
            rs.next();
            if (rs.getLong(1) > 0) {
                return;
            }
        }
        System.err.println("*** sql/install.sql has no telemetry.baseline_runs(run_id) yet: the test creates it from "
                + "exporter/src/test/resources/baseline-runs-contract.sql (the agreed definition) ***");
        try (Statement s = superuser.createStatement()) {
            s.execute(Files.readString(Repo.path("exporter/src/test/resources/baseline-runs-contract.sql")));
        }
    }
}
