package io.pgbatchtelemetry.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The machine a benchmark ran on, and how busy it was: numbers from a shared machine need their load beside them. */
public final class Machine {
    private Machine() {
    }

    /** The 1-, 5- and 15-minute load averages. */
    public static double[] loadAverage() {
        try {
            String[] parts = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return new double[] {Double.parseDouble(parts[0]), Double.parseDouble(parts[1]), Double.parseDouble(parts[2])};
        } catch (IOException e) {
            return new double[] {Double.NaN, Double.NaN, Double.NaN};
        }
    }

    public static Map<String, Object> facts() {
        Map<String, Object> facts = new LinkedHashMap<>();
        facts.put("cpus", Runtime.getRuntime().availableProcessors());
        try {
            List<String> cpuinfo = Files.readAllLines(Path.of("/proc/cpuinfo"));
            facts.put("cpu_model", cpuinfo.stream().filter(l -> l.startsWith("model name")).map(l -> l.split(":", 2)[1].trim())
                    .findFirst().orElse("?"));
            long memKb = Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal"))
                    .map(l -> Long.parseLong(l.split("\\s+")[1])).findFirst().orElse(0L);
            facts.put("mem_gib", Math.round(memKb / 1048576.0 * 10) / 10.0);
        } catch (IOException e) {
            facts.put("cpu_model", "?");
        }
        facts.put("kernel", System.getProperty("os.version"));
        facts.put("java", System.getProperty("java.runtime.version"));
        facts.put("loadavg_start", loadAverage());
        return facts;
    }
}
