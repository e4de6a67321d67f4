package io.pgbatchtelemetry.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code exporter/bin/jvm.options}, the one place the exporter's JVM options are set, read as the {@code java}
 * launcher reads an @argfile (one option per line here, '#' starts a comment), and each option turned into the
 * HotSpot flag and value that {@code jcmd PID VM.flags} reports for it, so a running JVM can be checked against it.
 */
public record JvmOptionsFile(List<String> options) {
    public static JvmOptionsFile read(Path file) throws IOException {
        List<String> options = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            int comment = line.indexOf('#');
            String option = (comment >= 0 ? line.substring(0, comment) : line).trim();
            if (!option.isEmpty()) {
                options.add(option);
            }
        }
        return new JvmOptionsFile(List.copyOf(options));
    }

    /** The HotSpot flags these options set, as VM.flags prints them (sizes in bytes, stack size in KiB, booleans). */
    public Map<String, String> expectedVmFlags() {
        Map<String, String> flags = new LinkedHashMap<>();
        for (String option : options) {
            if (option.startsWith("-XX:+") || option.startsWith("-XX:-")) {
                flags.put(option.substring(5), option.charAt(4) == '+' ? "true" : "false");
            } else if (option.startsWith("-XX:")) {
                String[] kv = option.substring(4).split("=", 2);
                flags.put(kv[0], kv[0].endsWith("Size") ? Long.toString(bytes(kv[1])) : kv[1]);
            } else if (option.startsWith("-Xms")) {
                flags.put("InitialHeapSize", Long.toString(bytes(option.substring(4))));
            } else if (option.startsWith("-Xmx")) {
                flags.put("MaxHeapSize", Long.toString(bytes(option.substring(4))));
            } else if (option.startsWith("-Xss")) {
                flags.put("ThreadStackSize", Long.toString(bytes(option.substring(4)) / 1024));
            } else {
                throw new IllegalArgumentException("jvm.options: no HotSpot flag known for " + option + "; teach JvmOptionsFile");
            }
        }
        return flags;
    }

    static long bytes(String size) {
        String s = size.toLowerCase(Locale.ROOT);
        long unit = switch (s.charAt(s.length() - 1)) {
            case 'k' -> 1024L;
            case 'm' -> 1024L * 1024;
            case 'g' -> 1024L * 1024 * 1024;
            default -> 1;
        };
        return Long.parseLong(unit == 1 ? s : s.substring(0, s.length() - 1)) * unit;
    }
}
