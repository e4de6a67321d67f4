package io.pgbatchtelemetry.exporter.collector;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * Which statements get series: the top {@code k} by cumulative execution time, with hysteresis so
 * that two statements of nearly equal time do not take turns in the last place, which would make
 * both series flap between scrapes.
 *
 * <p>Statements with series keep them while they stay within the top {@code 2k}. Free places go to
 * the best-ranked others. A statement in the top {@code k} without a series takes the place of the
 * worst member only when its time exceeds that member's by more than {@code margin} (a fraction):
 * near-ties stay as they are. At most {@code k} statements ever have series.
 *
 * @param k      the most statements with series
 * @param margin how much more time a newcomer needs to displace a member, e.g. 0.1 for a tenth more
 */
record StatementTopK(int k, double margin) {

    /** A statement and the measure it is ranked by. */
    record Ranked<K>(K key, double value) {}

    StatementTopK {
        if (k < 1) {
            throw new IllegalArgumentException("k must be positive, got " + k);
        }
    }

    /** How many ranked statements {@link #select} needs to see. */
    int window() {
        return 2 * k;
    }

    /**
     * @param members the statements with series after the last scrape
     * @param ranked  the statements now, best first; only the first {@link #window()} are looked at
     * @return the statements with series from now on, best first
     */
    <K> List<Ranked<K>> select(Set<K> members, List<Ranked<K>> ranked) {
        List<Ranked<K>> window = ranked.subList(0, Math.min(window(), ranked.size()));
        List<Ranked<K>> chosen = new ArrayList<>();
        for (Ranked<K> r : window) {
            if (members.contains(r.key()) && chosen.size() < k) {
                chosen.add(r);
            }
        }
        for (Ranked<K> r : window) {
            if (chosen.size() >= k) {
                break;
            }
            if (!members.contains(r.key())) {
                chosen.add(r);
            }
        }
        Comparator<Ranked<K>> byValue = Comparator.comparingDouble(Ranked::value);
        for (int i = 0; i < Math.min(k, window.size()); i++) {
            Ranked<K> candidate = window.get(i);
            if (chosen.contains(candidate)) {
                continue;
            }
            Ranked<K> worst = chosen.stream().min(byValue).orElseThrow();
            if (candidate.value() > worst.value() * (1 + margin)) {
                chosen.remove(worst);
                chosen.add(candidate);
            }
        }
        chosen.sort(byValue.reversed());
        return chosen;
    }
}
