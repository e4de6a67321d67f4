package io.pgbatchtelemetry.sql;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * sql/install.sql is the one file users run, and it is built from the sources in sql/src/*.sql by
 * sql/build.sh. This fails when a source was edited without rebuilding (or install.sql by hand).
 */
class InstallScriptBuildTest {

    @Test
    void committedInstallScriptIsWhatTheSourcesBuild() throws IOException, InterruptedException {
        Process check = new ProcessBuilder("bash", TelemetryDb.sqlDir().resolve("build.sh").toString(), "--check")
                .redirectErrorStream(true).start();
        String output = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(check.waitFor(60, TimeUnit.SECONDS), "sql/build.sh --check did not finish");
        assertEquals(0, check.exitValue(), output);
    }
}
