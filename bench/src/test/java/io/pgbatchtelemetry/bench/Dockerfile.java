package io.pgbatchtelemetry.bench;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The instructions of a Dockerfile that decide how its container starts (exec-form ENTRYPOINT/CMD only). */
record Dockerfile(Map<String, String> copies, List<String> entrypoint, List<String> cmd, Map<String, String> env, String user,
                  List<String> exposed) {
    static Dockerfile read(Path file) throws IOException {
        Map<String, String> copies = new LinkedHashMap<>();
        Map<String, String> env = new LinkedHashMap<>();
        List<String> entrypoint = List.of();
        List<String> cmd = List.of();
        List<String> exposed = new ArrayList<>();
        String user = null;
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(file)) {
            String[] parts = line.trim().split("\\s+", 2);
            if (parts.length < 2 || parts[0].startsWith("#")) {
                continue;
            }
            switch (parts[0]) {
                case "COPY" -> {
                    String[] paths = parts[1].split("\\s+");
                    copies.put(paths[0], paths[paths.length - 1]);
                }
                case "ENV" -> {
                    String[] kv = parts[1].split("=", 2);
                    env.put(kv[0], kv[1]);
                }
                case "ENTRYPOINT" -> entrypoint = json.readValue(parts[1], new TypeReference<List<String>>() { });
                case "CMD" -> cmd = json.readValue(parts[1], new TypeReference<List<String>>() { });
                case "USER" -> user = parts[1];
                case "EXPOSE" -> exposed.addAll(List.of(parts[1].split("\\s+")));
                default -> { }
            }
        }
        return new Dockerfile(copies, entrypoint, cmd, env, user, exposed);
    }
}
