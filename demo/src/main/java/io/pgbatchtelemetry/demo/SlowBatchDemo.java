package io.pgbatchtelemetry.demo;

import io.pgbatchtelemetry.harness.scenario.SlowBatchScenario;
import java.sql.SQLException;
import java.time.Duration;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;

/**
 * {@code --scenario slow-batch}: plays the slow-batch story once, with timings long enough for the shipped
 * alert rules (15 s scrapes, 1–2 minute {@code for:}) to fire in a Prometheus pointed at the demo, and says
 * at each act what to look for. The end-to-end test plays the same {@link SlowBatchScenario} faster.
 */
final class SlowBatchDemo implements Runnable {

    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss");
    static final Duration HEALTHY = Duration.ofSeconds(60);
    static final Duration HEALTHY_EVERY = Duration.ofSeconds(10);
    static final Duration LOCK_HELD = Duration.ofMinutes(7); // PostgresBatchBlocked needs 5 minutes of it
    static final int CHECKPOINTS = 20;
    static final Duration CHECKPOINT_EVERY = Duration.ofSeconds(3);

    private final SlowBatchScenario scenario;
    private volatile boolean running = true;

    SlowBatchDemo(SlowBatchScenario.Connections connections) {
        this.scenario = new SlowBatchScenario(connections, SlowBatchDemo::say);
    }

    static void say(String line) {
        System.out.println("[slow-batch " + LocalTime.now().format(CLOCK) + "] " + line);
    }

    void stop() {
        running = false;
    }

    @Override
    public void run() {
        try {
            scenario.prepare();
            say("ACT 1 of 3 - a healthy batch, a run every " + HEALTHY_EVERY.toSeconds() + " s for " + HEALTHY.toSeconds()
                    + " s. Expect: no warning or critical alert; AAS mostly CPU and IPC; autovacuum comes by after each run.");
            long healthyEnd = System.nanoTime() + HEALTHY.toNanos();
            while (running && System.nanoTime() < healthyEnd) {
                Duration took = scenario.healthyBatch();
                pause(HEALTHY_EVERY.minus(took));
            }
            if (!running) {
                return;
            }
            say("ACT 2 of 3 - lock contention for " + LOCK_HELD.toMinutes() + " min. Expect: PostgresBlockedSessions after ~3 min"
                    + " (a wait over a minute, for 2 minutes) and PostgresBatchBlocked (batch " + SlowBatchScenario.BATCH + ", blocked by "
                    + SlowBatchScenario.BLOCKER + ") after ~6 min, in one notification; dashboard row 'Lock contention'.");
            try (SlowBatchScenario.LockContention contention = scenario.startLockContention()) {
                long lockEnd = System.nanoTime() + LOCK_HELD.toNanos();
                while (running && System.nanoTime() < lockEnd && contention.batchStillWaiting()) {
                    pause(Duration.ofSeconds(1));
                }
            }
            if (!running) {
                return;
            }
            say("ACT 3 of 3 - a checkpoint storm. Expect: PostgresRequestedCheckpoints"
                    + " after ~5 minutes (its for:); dashboard row 'Checkpoint interference' and the checkpoint annotations.");
            scenario.forcedCheckpoints(CHECKPOINTS, CHECKPOINT_EVERY);
            say("done. The alerts resolve over the next 15-30 minutes (their windows). Ctrl-C stops the demo.");
        } catch (SQLException | RuntimeException e) {
            if (running) {
                say("the scenario stopped: " + e.getMessage());
            }
        }
    }

    private void pause(Duration duration) {
        if (duration.isNegative() || duration.isZero()) {
            return;
        }
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }
}
