package io.pgbatchtelemetry.exporter.collector;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The choice of statements with series: bounded, stable under near-ties, quick for a clear leader. */
class StatementTopKTest {

    private static List<StatementTopK.Ranked<String>> ranked(Object... keyValue) {
        List<StatementTopK.Ranked<String>> out = new ArrayList<>();
        for (int i = 0; i < keyValue.length; i += 2) {
            out.add(new StatementTopK.Ranked<>((String) keyValue[i], ((Number) keyValue[i + 1]).doubleValue()));
        }
        return out;
    }

    private static List<String> keys(List<StatementTopK.Ranked<String>> chosen) {
        return chosen.stream().map(StatementTopK.Ranked::key).toList();
    }

    @Test
    void nearTiesAtTheBoundaryDoNotFlap() {
        StatementTopK top = new StatementTopK(2, 0.1);
        Set<String> members = new HashSet<>(keys(top.select(Set.of(), ranked("a", 100, "b", 50, "c", 49))));
        assertEquals(Set.of("a", "b"), members);
        // c overtakes b by 2 %: b keeps its place, and again when they swap back
        assertEquals(List.of("a", "b"), keys(top.select(members, ranked("a", 100, "c", 51, "b", 50))));
        assertEquals(List.of("a", "b"), keys(top.select(members, ranked("a", 101, "b", 52, "c", 51))));
    }

    @Test
    void aClearLeaderTakesTheWorstPlaceAndAFallenMemberLeaves() {
        StatementTopK top = new StatementTopK(2, 0.1);
        Set<String> members = Set.of("a", "b");
        assertEquals(List.of("c", "a"), keys(top.select(members, ranked("c", 300, "a", 100, "b", 50))));
        // b fell out of the top 2k = 4: its place is free for the best non-member
        assertEquals(List.of("a", "d"), keys(top.select(members, ranked("a", 100, "d", 90, "e", 80, "f", 70, "b", 1))));
    }

    @Test
    void neverMoreThanK() {
        StatementTopK top = new StatementTopK(3, 0.1);
        Set<String> members = new HashSet<>();
        for (int round = 0; round < 50; round++) {
            List<StatementTopK.Ranked<String>> now = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                now.add(new StatementTopK.Ranked<>("s" + ((i + round) % 20), 1000 - i * (round % 3 + 1)));
            }
            List<String> chosen = keys(top.select(members, now));
            assertEquals(3, chosen.size(), chosen.toString());
            members = new HashSet<>(chosen);
        }
    }

    @Test
    void previewsDropCommentsAndLiterals() {
        assertEquals("SELECT * FROM t WHERE a = ? AND b = ? AND c = $1",
                QueryPreview.of("/* job=42 */ SELECT *\n  FROM t -- note\n WHERE a = 'x''y' AND b = 12.5 AND c = $1", 80));
        assertEquals("SELECT abcdefg…", QueryPreview.of("SELECT abcdefghijk", 15));
    }
}
