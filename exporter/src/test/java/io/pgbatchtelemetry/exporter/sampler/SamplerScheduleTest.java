package io.pgbatchtelemetry.exporter.sampler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The estimator's weights, the fixed-rate ticks and the backoff, on made-up clocks. */
class SamplerScheduleTest {

    private static final long SECOND = 1_000_000_000L;

    @Test
    void weightsTileTheTimelineSoLateTicksAreNeitherLostNorDoubleCounted() {
        SampleWeights weights = new SampleWeights(Duration.ofSeconds(1));
        assertEquals(1.0, weights.sampled(100 * SECOND), 1e-9, "first sample: one nominal interval");
        assertEquals(1.0, weights.sampled(101 * SECOND), 1e-9);
        // a tick 0.7 s late credits 1.7 s, the next one (on schedule) 0.3 s: 2 s in all, as elapsed
        assertEquals(1.7, weights.sampled(102 * SECOND + 700_000_000L), 1e-9);
        assertEquals(0.3, weights.sampled(103 * SECOND), 1e-9);
        assertEquals(3.0, weights.sampled(150 * SECOND), 1e-9, "a 47 s stall credits at most three intervals");
    }

    @Test
    void afterAFailureTheNextSampleCreditsOneInterval() {
        SampleWeights weights = new SampleWeights(Duration.ofMillis(100));
        weights.sampled(0);
        weights.failed();
        assertEquals(0.1, weights.sampled(20 * SECOND), 1e-9);
        assertEquals(0.1, weights.sampled(20 * SECOND + 100_000_000L), 1e-9);
    }

    @Test
    void ticksAreFixedRateAndOverrunTicksAreSkippedAndCounted() {
        long interval = SECOND;
        TickSchedule ticks = new TickSchedule(interval, 0);
        assertEquals(0, ticks.due());
        assertEquals(0, ticks.advancePast(5_000_000L), "a 5 ms sample");
        assertEquals(SECOND, ticks.due());
        assertEquals(0, ticks.advancePast(SECOND + 900_000_000L), "late but finished before the next tick");
        assertEquals(2 * SECOND, ticks.due(), "fixed rate: the late sample does not shift the schedule");
        assertEquals(2, ticks.advancePast(4 * SECOND + 500_000_000L), "a 2.5 s sample skips the ticks at 3 s and 4 s");
        assertEquals(5 * SECOND, ticks.due());
        ticks.restartAt(60 * SECOND);
        assertEquals(60 * SECOND, ticks.due());
    }

    @Test
    void backoffDoublesFromOneIntervalUpToThirtySecondsAndResets() {
        Backoff backoff = new Backoff(Duration.ofSeconds(1));
        List<Long> delays = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            delays.add(backoff.next().toSeconds());
        }
        assertEquals(List.of(1L, 2L, 4L, 8L, 16L, 30L, 30L, 30L), delays);
        backoff.reset();
        assertEquals(Duration.ofSeconds(1), backoff.next());
        Backoff slow = new Backoff(Duration.ofSeconds(60));
        assertEquals(Duration.ofSeconds(60), slow.next(), "never faster than the interval");
        assertEquals(Duration.ofSeconds(60), slow.next());
    }
}
