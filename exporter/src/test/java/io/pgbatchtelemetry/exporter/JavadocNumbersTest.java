package io.pgbatchtelemetry.exporter;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Measured numbers (times, sizes, shares) live in docs/benchmarks.md with how they were measured,
 * never in Javadoc, where they go stale unnoticed. This finds a number with a unit of time, size or
 * percent in the exporter's Javadoc, outside {@code {@code ...}} (where units are PostgreSQL's
 * spelling, such as a setting's {@code '8kB'}); a library's or the JDK's documented default
 * ("JDK default 384 KiB") is a fact to compare with, not a measurement.
 */
class JavadocNumbersTest {

    private static final Pattern JAVADOC = Pattern.compile("/\\*\\*.*?\\*/", Pattern.DOTALL);
    private static final Pattern CODE = Pattern.compile("\\{@code [^}]*}");
    private static final Pattern MEASURED = Pattern.compile("\\d+(?:[.,]\\d+)?\\s?(?:ms|µs|MiB|KiB|GiB|kB|MB|%)(?![A-Za-z])");

    @Test
    void noMeasuredNumbersInJavadoc() throws IOException {
        List<String> found = new ArrayList<>();
        try (Stream<Path> files = Files.walk(Path.of("src", "main", "java"))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                Matcher doc = JAVADOC.matcher(Files.readString(file));
                while (doc.find()) {
                    String text = CODE.matcher(doc.group()).replaceAll("");
                    Matcher number = MEASURED.matcher(text);
                    while (number.find()) {
                        if (!text.substring(Math.max(0, number.start() - 16), number.start()).contains("default")) {
                            found.add(file.getFileName() + ": " + number.group());
                        }
                    }
                }
            }
        }
        assertEquals(List.of(), found, "measured numbers belong in docs/benchmarks.md");
    }
}
