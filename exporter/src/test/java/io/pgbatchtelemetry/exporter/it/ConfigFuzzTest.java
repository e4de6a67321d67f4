package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad configuration of every kind, given to the real {@code Main} in its own JVM: each must end
 * with exit status 2 and exactly one line that starts with the program name and names the key,
 * without a stack trace and without any of the passwords the configuration holds. (The basic
 * cases are in {@link MainProcessTest}; these are the hostile ones.)
 */
class ConfigFuzzTest {

    private static final String DB_SECRET = "Hunter2-Secret";
    private static final String FILE_SECRET = "FileSecret-77";

    @TempDir
    Path dir;

    private record Case(String name, Map<String, String> env, List<String> args, String expectedKey) {}

    @Test
    void everyBadConfigurationExitsWithTwoAndOneCleanLine() throws Exception {
        Map<String, String> dsn = Map.of("DATA_SOURCE_NAME", "postgresql://mon:" + DB_SECRET + "@127.0.0.1:1/postgres");
        List<Case> cases = new ArrayList<>();
        // malformed HOCON, including a broken quote right after a password
        cases.add(fileCase("unterminated quote after a password", dsn,
                "pg-batch-exporter.data-source { password = \"" + FILE_SECRET + "\n url = \"x\" }", "--config.file"));
        // the parser quotes the token it tripped over: on these lines that token is the password
        cases.add(fileCase("unquoted password with a brace", dsn, "pg-batch-exporter.data-source.password = Pre{" + FILE_SECRET,
                "--config.file"));
        cases.add(fileCase("password that looks like a substitution", dsn, "pg-batch-exporter.data-source.password = x${"
                + FILE_SECRET + "}", "configuration"));
        cases.add(fileCase("unbalanced braces", dsn, "pg-batch-exporter { scrape { timeout = 5s }", "--config.file"));
        cases.add(fileCase("binary garbage", dsn, "\u0000\u0001\u00ff{{{=", "--config.file"));
        cases.add(fileCase("substitution of an undefined value", dsn, "pg-batch-exporter.scrape.timeout = ${nowhere}", "configuration"));
        // wrong types
        cases.add(fileCase("pool size is a list", dsn, "pg-batch-exporter.scrape.pool-size = [1, 2]", "scrape.pool-size"));
        cases.add(fileCase("collector switch is a word", dsn, "pg-batch-exporter.collectors.wal = maybe", "collectors.wal"));
        cases.add(fileCase("timeout is an object", dsn, "pg-batch-exporter.scrape.timeout { a = 1 }", "scrape.timeout"));
        cases.add(fileCase("url is a list", Map.of(), "pg-batch-exporter.data-source.url = [a, b]", "data-source.url"));
        cases.add(flagCase("listen address without a port", dsn, "--web.listen-address=localhost", "web.listen-address"));
        cases.add(flagCase("port out of range", dsn, "--web.listen-address=:99999", "web.listen-address"));
        cases.add(flagCase("telemetry path without a slash", dsn, "--web.telemetry-path=metrics", "web.telemetry-path"));
        // durations and sizes
        cases.add(fileCase("negative duration in a file", dsn, "pg-batch-exporter.scrape.lock-timeout = -1s", "scrape.lock-timeout"));
        cases.add(flagCase("zero duration", dsn, "--scrape.timeout=0s", "scrape.timeout"));
        cases.add(flagCase("duration without a unit", dsn, "--scrape.timeout=5", "scrape.timeout: '5' has no unit: write 5s"));
        cases.add(fileCase("file missing its closing brace", dsn, "pg-batch-exporter {\n  scrape { timeout = 5s }\n",
                "missing a closing '}'"));
        cases.add(flagCase("negative connect timeout", dsn, "--data-source.connect-timeout=-3s", "data-source.connect-timeout"));
        cases.add(flagCase("statement timeout above the scrape deadline", dsn, "--scrape.statement-timeout=30s", "scrape.statement-timeout"));
        cases.add(flagCase("pool of zero", dsn, "--scrape.pool-size=0", "scrape.pool-size"));
        cases.add(flagCase("pool of a hundred", dsn, "--scrape.pool-size=100", "scrape.pool-size"));
        cases.add(new Case("bad duration in the environment", merge(dsn, Map.of("PG_EXPORTER_SCRAPE_TIMEOUT", "soonish")), List.of(),
                "scrape.timeout"));
        // unknown names
        cases.add(fileCase("unknown collector in a file", dsn, "pg-batch-exporter.collectors.mind_reader = true", "collectors.mind_reader"));
        cases.add(flagCase("unknown collector flag", dsn, "--no-collector.mind_reader", "mind_reader"));
        cases.add(fileCase("typo in a key", dsn, "pg-batch-exporter.scrape.timout = 5s", "scrape.timout"));
        // secrets and files
        Path directory = Files.createDirectory(dir.resolve("a-directory"));
        cases.add(flagCase("password file is a directory", dsn, "--data-source.password-file=" + directory, "data-source.password-file"));
        cases.add(new Case("password file missing", merge(dsn, Map.of("DATA_SOURCE_PASS_FILE", dir.resolve("gone").toString())), List.of(),
                "data-source.password-file"));
        cases.add(flagCase("basic-auth password file is a directory", dsn, "--web.basic-auth.username=p", "web.basic-auth.password-file",
                "--web.basic-auth.password-file=" + directory));
        cases.add(flagCase("basic-auth hash that is a password", dsn, "--web.basic-auth.username=p", "web.basic-auth.password-hash",
                "--web.basic-auth.password-hash=" + FILE_SECRET));
        cases.add(flagCase("TLS certificate missing", dsn, "--web.tls.cert-file=" + dir.resolve("none.crt"), "web.tls.cert-file",
                "--web.tls.key-file=" + dir.resolve("none.key")));
        Path notPem = dir.resolve("not.pem");
        Files.writeString(notPem, "just text, not PEM\n");
        cases.add(flagCase("TLS files that are not PEM", dsn, "--web.tls.cert-file=" + notPem, "web.tls.cert-file",
                "--web.tls.key-file=" + notPem));
        // connection strings
        cases.add(new Case("empty DSN", Map.of("DATA_SOURCE_NAME", ""), List.of(), "data-source.url"));
        cases.add(new Case("no DSN at all", Map.of(), List.of(), "data-source.url"));
        cases.add(new Case("DSN that is not one", Map.of("DATA_SOURCE_NAME", "mon:" + DB_SECRET + "@nowhere"), List.of(), "data-source.url"));
        cases.add(new Case("key=value DSN with an unterminated quote in the password",
                Map.of("DATA_SOURCE_NAME", "host=127.0.0.1 user=mon password='" + DB_SECRET), List.of(), "data-source.url"));
        cases.add(new Case("DSN with a Unix socket host", Map.of("DATA_SOURCE_NAME", "postgresql://mon:" + DB_SECRET
                + "@%2Fvar%2Frun%2Fpostgresql/postgres"), List.of(), "data-source.url"));

        // two JVMs at a time: the machine has two cores
        ExecutorService runner = Executors.newFixedThreadPool(2);
        Map<Case, Future<ExporterProcess.Result>> results = new LinkedHashMap<>();
        try {
            for (Case c : cases) {
                results.put(c, runner.submit(() -> ExporterProcess.run(c.env(), c.args())));
            }
        } finally {
            runner.shutdown();
        }
        List<String> failures = new ArrayList<>();
        for (Case c : cases) {
            ExporterProcess.Result result = results.get(c).get(120, TimeUnit.SECONDS);
            String output = result.output().strip();
            String[] lines = output.split("\n");
            List<String> problems = new ArrayList<>();
            if (result.exit() != 2) {
                problems.add("exit " + result.exit());
            }
            if (lines.length != 1) {
                problems.add(lines.length + " lines");
            }
            if (!lines[0].startsWith("pg-batch-exporter: ")) {
                problems.add("does not start with the program name");
            }
            if (!output.contains(c.expectedKey())) {
                problems.add("does not name " + c.expectedKey());
            }
            if (output.contains("Exception") || output.contains("\tat ")) {
                problems.add("stack trace");
            }
            if (output.contains(DB_SECRET) || output.contains(FILE_SECRET)) {
                problems.add("PASSWORD PRINTED");
            }
            if (!problems.isEmpty()) {
                failures.add(c.name() + ": " + problems + "\n    " + output.replace("\n", "\n    "));
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + cases.size() + " cases misbehave:\n" + String.join("\n", failures));
        assertEquals(36, results.size());
    }

    private Case fileCase(String name, Map<String, String> env, String content, String expectedKey) throws Exception {
        Path file = dir.resolve(name.replaceAll("[^a-z]+", "-") + ".conf");
        Files.writeString(file, content);
        return new Case(name, env, List.of("--config.file=" + file), expectedKey);
    }

    private static Case flagCase(String name, Map<String, String> env, String flag, String expectedKey, String... more) {
        List<String> args = new ArrayList<>(List.of(flag));
        args.addAll(List.of(more));
        return new Case(name, env, args, expectedKey);
    }

    private static Map<String, String> merge(Map<String, String> a, Map<String, String> b) {
        Map<String, String> merged = new LinkedHashMap<>(a);
        merged.putAll(b);
        return merged;
    }
}
