package io.pgbatchtelemetry.exporter.collector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.pgbatchtelemetry.exporter.collector.SettingUnit.Dimension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SettingUnitTest {

    @ParameterizedTest(name = "{1} {0} = {3} {2}")
    @CsvSource({
            // unit, setting, dimension, base units
            "8kB, 16384, BYTES, 134217728",      // shared_buffers 128MB in 8kB blocks
            "kB, 4096, BYTES, 4194304",          // work_mem 4MB
            "MB, 1024, BYTES, 1073741824",       // max_wal_size 1GB
            "B, 512, BYTES, 512",
            "16MB, 5, BYTES, 83886080",          // block multiples of any size, as old servers print
            "ms, 200, SECONDS, 0.2",             // bgwriter_delay
            "ms, 2, SECONDS, 0.002",             // autovacuum_vacuum_cost_delay is a real in ms
            "s, 300, SECONDS, 300",              // checkpoint_timeout
            "min, 5, SECONDS, 300",
            "'', 0.9, NONE, 0.9",                // checkpoint_completion_target
    })
    void convertsToBytesOrSeconds(String unit, double setting, Dimension dimension, double expected) {
        SettingUnit parsed = SettingUnit.parse(unit).orElseThrow();
        assertEquals(dimension, parsed.dimension());
        assertEquals(expected, parsed.toBaseUnits(setting), 1e-12);
    }

    @Test
    void noUnitIsDimensionless() {
        assertEquals(SettingUnit.NONE, SettingUnit.parse(null).orElseThrow());
        assertEquals(100, SettingUnit.NONE.toBaseUnits(100));
    }

    @Test
    void minusOneMeansNotSetAndIsNotConverted() {
        // autovacuum_work_mem = -1 (use maintenance_work_mem), temp_file_limit = -1 (no limit)
        assertEquals(-1, SettingUnit.parse("kB").orElseThrow().toBaseUnits(-1));
        assertEquals(-1, SettingUnit.parse("ms").orElseThrow().toBaseUnits(-1));
    }

    @Test
    void unitsPostgresDoesNotPrintAreRejected() {
        assertTrue(SettingUnit.parse("parsecs").isEmpty());
        assertTrue(SettingUnit.parse("8 kB").isEmpty());
        assertTrue(SettingUnit.parse("kb").isEmpty(), "units are case-sensitive: kb is not kB");
    }

    @Test
    void dimensionsNameTheMetricSuffix() {
        assertEquals("_bytes", Dimension.BYTES.suffix());
        assertEquals("_seconds", Dimension.SECONDS.suffix());
        assertEquals("", Dimension.NONE.suffix());
    }
}
