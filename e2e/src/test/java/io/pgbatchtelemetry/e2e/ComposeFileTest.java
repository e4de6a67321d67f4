package io.pgbatchtelemetry.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * No Docker engine runs here, so docker-compose.yml is checked as a file: every mounted path and Dockerfile
 * exists (with what the Dockerfiles copy), every service has a health check, and the addresses agree —
 * Prometheus' targets with the services and the exporter's listen port, Grafana's datasource with Prometheus,
 * the exporter's DSN with the PostgreSQL service — and the host ports are the documented ones.
 */
class ComposeFileTest {

    private static final List<String> SERVICES = List.of("postgres", "exporter", "prometheus", "alertmanager", "grafana");
    private static final Map<String, Integer> DOCUMENTED_PORTS = Map.of(
            "postgres", 5432, "exporter", 9187, "prometheus", 9090, "alertmanager", 9093, "grafana", 3000);

    /** The telemetry schema's folder, written on another branch (issue: SQL schema); mounted into postgres. */
    private static final String TELEMETRY_SCHEMA_MOUNT = "./sql";

    private final Map<String, Object> compose = RuleFiles.load(Repo.path("docker-compose.yml"));

    @Test
    void everyServiceIsThereWithAHealthCheckAndItsDocumentedPort() throws IOException {
        String walkthrough = Files.readString(Repo.path("docs/diagnose-a-slow-batch.md"));
        for (String name : SERVICES) {
            Map<String, Object> service = service(name);
            assertTrue(service.get("healthcheck") instanceof Map, name + " has no healthcheck");
            int port = DOCUMENTED_PORTS.get(name);
            assertTrue(stringList(service.get("ports")).contains(port + ":" + port), name + " must publish " + port + ": " + service.get("ports"));
            assertTrue(walkthrough.contains("| `" + name + "` | " + port + " |"), "the port table of docs/diagnose-a-slow-batch.md must list " + name + " on " + port);
        }
    }

    @Test
    void everyMountedPathAndDockerfileExists() throws IOException {
        List<String> problems = new ArrayList<>();
        for (String name : SERVICES) {
            Map<String, Object> service = service(name);
            for (String volume : stringList(service.get("volumes"))) {
                String source = volume.split(":")[0];
                if (source.equals(TELEMETRY_SCHEMA_MOUNT)) {
                    continue; // checked by theTelemetrySchemaIsMountedForTheInitScript
                }
                if (source.startsWith("./") && !Files.exists(Repo.path(source.substring(2)))) {
                    problems.add(name + ": mounted path " + source + " does not exist");
                }
            }
            if (service.get("build") instanceof Map<?, ?> build) {
                Path context = Repo.path((String) build.get("context"));
                Object dockerfileName = build.get("dockerfile");
                Path dockerfile = context.resolve(dockerfileName == null ? "Dockerfile" : String.valueOf(dockerfileName));
                if (!Files.isRegularFile(dockerfile)) {
                    problems.add(name + ": Dockerfile " + dockerfile + " does not exist");
                    continue;
                }
                for (String copied : copySources(dockerfile)) {
                    if (copied.equals("target/pg-batch-exporter.jar")) {
                        // built by mvn package: the exporter's shade finalName must produce exactly this name
                        String pom = Files.readString(Repo.path("exporter/pom.xml"));
                        if (!pom.contains("<finalName>pg-batch-exporter</finalName>")) {
                            problems.add(name + ": exporter/pom.xml no longer builds target/pg-batch-exporter.jar");
                        }
                    } else if (!Files.exists(context.resolve(copied))) {
                        problems.add(name + ": " + dockerfile + " copies " + copied + ", which does not exist");
                    }
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
        assertTrue(Files.isExecutable(Repo.path("docker/postgres/initdb/10-pg-batch-telemetry.sh")), "the init script must be executable");
        String init = Files.readString(Repo.path("docker/postgres/initdb/10-pg-batch-telemetry.sh"));
        Matcher install = Pattern.compile("-f (/opt/pg-batch-telemetry/\\S+)").matcher(init);
        assertTrue(install.find(), init);
        assertEquals(Optional.of(Repo.path("sql/install.sql")), hostPath("postgres", install.group(1)),
                "the init script must run sql/install.sql through the ./sql mount");
    }

    @Test
    void theTelemetrySchemaIsMountedForTheInitScript() {
        assertTrue(stringList(service("postgres").get("volumes")).stream().anyMatch(v -> v.startsWith(TELEMETRY_SCHEMA_MOUNT + ":")));
        Path install = Repo.path("sql/install.sql");
        assertTrue(Files.isRegularFile(install) && Files.isReadable(install), "the init script runs " + install);
    }

    @Test
    void postgresPreloadsPgCronForTheTelemetryJobs() throws IOException {
        String dockerfile = Files.readString(Repo.path("docker/postgres/Dockerfile"));
        assertTrue(dockerfile.contains("FROM postgres:17") && dockerfile.contains("postgresql-17-cron")
                && dockerfile.contains("shared_preload_libraries=pg_cron") && dockerfile.contains("cron.database_name=postgres"), dockerfile);
        String exporterDockerfile = Files.readString(Repo.path("exporter/Dockerfile"));
        assertTrue(exporterDockerfile.contains("FROM eclipse-temurin:17-jre"), exporterDockerfile);
    }

    @Test
    void prometheusTargetsAgreeWithTheServicesAndTheExportersListenPort() {
        Map<String, Object> prometheus = RuleFiles.load(Repo.path("prometheus/prometheus.yml"));
        Config reference = ConfigFactory.parseResources(io.pgbatchtelemetry.exporter.Exporter.class.getClassLoader(), "reference.conf");
        String defaultListen = reference.getString("pg-batch-exporter.web.listen-address");
        String listen = String.valueOf(environment("exporter").getOrDefault("PG_EXPORTER_WEB_LISTEN_ADDRESS", defaultListen));
        int exporterPort = Integer.parseInt(listen.substring(listen.lastIndexOf(':') + 1));

        List<String> scrapeTargets = new ArrayList<>();
        for (Map<String, Object> job : maps(prometheus.get("scrape_configs"))) {
            assertEquals("pg-batch-exporter", job.get("job_name"), "PostgresExporterDown expects the job pg-batch-exporter");
            for (Map<String, Object> staticConfig : maps(job.get("static_configs"))) {
                scrapeTargets.addAll(stringList(staticConfig.get("targets")));
            }
        }
        assertEquals(List.of("exporter:" + exporterPort), scrapeTargets, "Prometheus must scrape the exporter service on its listen port");
        assertTrue(stringList(service("exporter").get("ports")).contains(exporterPort + ":" + exporterPort));

        Map<String, Object> alerting = map(prometheus.get("alerting"));
        List<String> amTargets = new ArrayList<>();
        for (Map<String, Object> am : maps(alerting.get("alertmanagers"))) {
            for (Map<String, Object> staticConfig : maps(am.get("static_configs"))) {
                amTargets.addAll(stringList(staticConfig.get("targets")));
            }
        }
        assertEquals(List.of("alertmanager:9093"), amTargets);
        assertTrue(stringList(service("alertmanager").get("command")).contains("--web.listen-address=:9093"));
        assertTrue(stringList(service("prometheus").get("command")).contains("--web.listen-address=:9090"));
    }

    @Test
    void prometheusInTheContainerFindsItsRuleFilesThroughTheMounts() {
        Map<String, Object> prometheus = RuleFiles.load(Repo.path("prometheus/prometheus.yml"));
        String configFlag = stringList(service("prometheus").get("command")).stream()
                .filter(c -> c.startsWith("--config.file=")).findFirst().orElseThrow();
        Path containerConfig = Path.of(configFlag.substring("--config.file=".length()));
        assertEquals(Optional.of(Repo.path("prometheus/prometheus.yml")), hostPath("prometheus", containerConfig.toString()));
        int alertFiles = 0;
        for (String ruleFile : stringList(prometheus.get("rule_files"))) {
            Path inContainer = containerConfig.getParent().resolve(ruleFile).normalize();
            Path onHost = hostPath("prometheus", inContainer.toString())
                    .orElseThrow(() -> new AssertionError(ruleFile + " (" + inContainer + ") is in no mount of the prometheus service"));
            List<Path> matches = glob(onHost);
            assertTrue(!matches.isEmpty(), ruleFile + " matches nothing on the host (" + onHost + ")");
            alertFiles += matches.size();
        }
        assertEquals(Repo.alertRuleFiles().size() + 1, alertFiles, "recording rules + every alerts/*.rules.yml");
        assertEquals(Optional.of(Repo.path("prometheus/alertmanager.yml")), hostPath("alertmanager", "/etc/alertmanager/alertmanager.yml"));
    }

    @Test
    void grafanaAndTheExporterPointAtTheirServices() {
        Map<String, Object> datasources = RuleFiles.load(Repo.path("grafana/provisioning/datasources/prometheus.yml"));
        String url = String.valueOf(maps(datasources.get("datasources")).get(0).get("url"));
        assertEquals("http://prometheus:9090", url);
        assertEquals(Optional.of(Repo.path("grafana/provisioning")), hostPath("grafana", "/etc/grafana/provisioning"));
        Map<String, Object> dashboards = RuleFiles.load(Repo.path("grafana/provisioning/dashboards/pg-batch-telemetry.yml"));
        String dashboardPath = String.valueOf(map(maps(dashboards.get("providers")).get(0).get("options")).get("path"));
        assertEquals(Optional.of(Repo.path("grafana/dashboards")), hostPath("grafana", dashboardPath));

        String dsn = String.valueOf(environment("exporter").get("DATA_SOURCE_NAME"));
        assertTrue(dsn.startsWith("postgresql://pgbt_monitor@postgres:5432/"), dsn);
        assertEquals(environment("postgres").get("PGBT_MONITOR_PASSWORD"), environment("exporter").get("DATA_SOURCE_PASS"));
        assertTrue(map(service("exporter").get("depends_on")).containsKey("postgres"));
    }

    /** The host path that a container path of a service is mounted from (bind mounts "./x:/y"). */
    private Optional<Path> hostPath(String serviceName, String containerPath) {
        for (String volume : stringList(service(serviceName).get("volumes"))) {
            String[] parts = volume.split(":");
            if (!parts[0].startsWith("./")) {
                continue;
            }
            String target = parts[1];
            if (containerPath.equals(target) || containerPath.startsWith(target + "/")) {
                return Optional.of(Repo.path(parts[0].substring(2)).resolve(containerPath.substring(target.length()).replaceFirst("^/", "")).normalize());
            }
        }
        return Optional.empty();
    }

    private static List<Path> glob(Path pattern) {
        if (!pattern.getFileName().toString().contains("*")) {
            return Files.exists(pattern) ? List.of(pattern) : List.of();
        }
        PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + pattern.getFileName());
        try (Stream<Path> files = Files.list(pattern.getParent())) {
            return files.filter(f -> matcher.matches(f.getFileName())).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static List<String> copySources(Path dockerfile) throws IOException {
        List<String> sources = new ArrayList<>();
        for (String line : Files.readAllLines(dockerfile)) {
            String[] words = line.trim().split("\\s+");
            if (words.length >= 3 && (words[0].equals("COPY") || words[0].equals("ADD"))) {
                for (int i = 1; i < words.length - 1; i++) {
                    if (!words[i].startsWith("--")) {
                        sources.add(words[i]);
                    }
                }
            }
        }
        return sources;
    }

    private Map<String, Object> service(String name) {
        Map<String, Object> service = map(map(compose.get("services")).get(name));
        assertTrue(!service.isEmpty(), "docker-compose.yml has no service " + name);
        return service;
    }

    private Map<String, Object> environment(String serviceName) {
        return map(service(serviceName).get("environment"));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object value) {
        return value instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> maps(Object value) {
        return value instanceof List<?> l ? (List<Map<String, Object>>) l : List.of();
    }

    private static List<String> stringList(Object value) {
        List<String> strings = new ArrayList<>();
        if (value instanceof List<?> l) {
            l.forEach(v -> strings.add(String.valueOf(v)));
        }
        return strings;
    }
}
