package io.pgbatchtelemetry.exporter;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The packages of the exporter form layers without cycles: {@code db} (connections, sessions, the
 * statement contract) at the bottom, {@code collector} above it, {@code config} above that, and
 * {@code scrape}, {@code http}, {@code sampler} and {@code cli} on top. A cycle (as
 * {@code db → config → collector → db} was, through the pool taking the config's records) means no
 * package can be understood, tested or changed without the others.
 */
class PackageCyclesTest {

    @Test
    void thePackagesHaveNoCycles() {
        JavaClasses classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.pgbatchtelemetry.exporter");
        slices().matching("io.pgbatchtelemetry.exporter.(*)..").should().beFreeOfCycles().check(classes);
    }
}
