package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A first run's console is clean: Maven, as scripts/demo.sh and scripts/test.sh call it with its output
 * piped, prints no raw escape codes (Debian's Maven 3.8 with jansi 2.4 wrote {@code ESC[0m} resets on
 * exit even with -B; {@code .mvn/jvm.config} sets {@code jansi.noreset}), and the poms leave no
 * [WARNING] behind for the shade plugin (licences merged) or the sql module (no empty jar).
 */
class BuildOutputTest {

    @Test
    void mavenPrintsNoEscapeCodesWhenPiped() {
        Command mvn = Command.run(Repo.root(), Duration.ofMinutes(2), "mvn", "-B", "-ntp", "-q", "-o", "validate");
        assertEquals(0, mvn.exitCode(), mvn.output());
        assertFalse(mvn.output().contains("\u001b"), "raw escape codes in Maven's piped output: " + mvn.output().replace("\u001b", "ESC"));
    }

    @Test
    void thePomsCarryTheFixesForTheBuildWarnings() throws Exception {
        String exporter = java.nio.file.Files.readString(Repo.path("exporter/pom.xml"));
        String demo = java.nio.file.Files.readString(Repo.path("demo/pom.xml"));
        String sql = java.nio.file.Files.readString(Repo.path("sql/pom.xml"));
        for (String pom : new String[] {exporter, demo}) {
            assertTrue(pom.contains("<resource>META-INF/LICENSE.txt</resource>"), "shade merges the overlapping licence files");
        }
        assertTrue(sql.contains("<skipIfEmpty>true</skipIfEmpty>"), "the sql module builds no empty jar");
    }
}
