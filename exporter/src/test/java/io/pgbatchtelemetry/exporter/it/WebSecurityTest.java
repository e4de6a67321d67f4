package io.pgbatchtelemetry.exporter.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import at.favre.lib.crypto.bcrypt.BCrypt;
import io.pgbatchtelemetry.exporter.Exporter;
import io.pgbatchtelemetry.exporter.config.ConfigException;
import io.pgbatchtelemetry.harness.PostgresCluster;
import io.pgbatchtelemetry.harness.SharedClusters;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code /metrics} over HTTPS with basic auth, checked with real TLS clients (the JDK's HttpClient
 * trusting only a CA made by the test with the openssl CLI): the right password gets metrics, a
 * wrong one or none gets 401 on every path, a plain-HTTP client and a client that does not trust
 * the CA get nothing, and a bad certificate or key stops start-up naming the key.
 */
class WebSecurityTest {

    private static final String USER = "prometheus";
    private static final String PASSWORD = "S3cret-scrape-Pa55";
    private static final String WRONG = "guess-Wr0ng-Pa55";

    @TempDir
    static Path dir;
    private static TestCertificates ca;
    private static TestCertificates.Issued serverCert;
    private static PostgresCluster cluster;
    private static HttpClient trustingClient;

    @BeforeAll
    static void setUp() throws Exception {
        ca = TestCertificates.authority(dir, "web");
        serverCert = ca.server("exporter");
        cluster = SharedClusters.get(SharedClusters.versions().get(0));
        ExporterTestSupport.createMonitoringRole(cluster);
        trustingClient = client(ca.clientContext());
    }

    @Test
    void httpsWithBcryptBasicAuthProtectsEveryPath() throws Exception {
        String hash = new String(BCrypt.withDefaults().hash(6, PASSWORD.toCharArray()), StandardCharsets.US_ASCII);
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, tlsAndAuth(Map.of(
                "web.basic-auth.password-hash", hash))))) {
            int port = exporter.port();
            HttpResponse<String> ok = get(trustingClient, "https", port, "/metrics", USER, PASSWORD);
            assertEquals(200, ok.statusCode(), ok.body());
            assertEquals(1.0, new Exposition(ok.body()).value("pg_up"));
            // a remembered success is still checked: the next request with the wrong password fails
            assertEquals(200, get(trustingClient, "https", port, "/metrics", USER, PASSWORD).statusCode());

            for (String path : List.of("/metrics", "/-/healthy", "/", "/nothing-here")) {
                HttpResponse<String> wrong = get(trustingClient, "https", port, path, USER, WRONG);
                assertEquals(401, wrong.statusCode(), path + " with a wrong password");
                assertEquals("Basic realm=\"pg-batch-exporter\", charset=\"UTF-8\"",
                        wrong.headers().firstValue("WWW-Authenticate").orElse(""), path);
                assertFalse(wrong.body().contains("pg_up"), path);
                assertEquals(401, get(trustingClient, "https", port, path, null, null).statusCode(), path + " without credentials");
                assertEquals(401, get(trustingClient, "https", port, path, "someone", PASSWORD).statusCode(), path + " with a wrong user");
            }
            assertEquals(200, get(trustingClient, "https", port, "/-/healthy", USER, PASSWORD).statusCode());
            assertEquals(200, get(trustingClient, "https", port, "/", USER, PASSWORD).statusCode());

            // plain HTTP against the TLS port: no answer at all, certainly no metrics
            assertThrows(IOException.class, () -> get(client(null), "http", port, "/metrics", USER, PASSWORD));
            // a client that does not trust the test CA refuses the server
            assertThrows(SSLHandshakeException.class, () -> get(client(SSLContext.getDefault()), "https", port, "/metrics", USER, PASSWORD));
        }
    }

    @Test
    void htpasswdStyleHashAndPasswordFileWithAnRsaPkcs1Key() throws Exception {
        TestCertificates.Issued rsa = ca.serverWithPkcs1RsaKey("exporter-rsa");
        assertTrue(Files.readString(rsa.key()).contains("BEGIN RSA PRIVATE KEY"), "the key really is PKCS#1");
        String hash2y = new String(BCrypt.with(BCrypt.Version.VERSION_2Y).hash(5, PASSWORD.toCharArray()), StandardCharsets.US_ASCII);
        assertTrue(hash2y.startsWith("$2y$05$"), hash2y);
        Map<String, String> flags = new HashMap<>(Map.of("web.listen-address", "127.0.0.1:0",
                "web.tls.cert-file", rsa.cert().toString(), "web.tls.key-file", rsa.key().toString(),
                "web.basic-auth.username", USER, "web.basic-auth.password-hash", hash2y));
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, flags))) {
            assertEquals(200, get(trustingClient, "https", exporter.port(), "/metrics", USER, PASSWORD).statusCode());
            assertEquals(401, get(trustingClient, "https", exporter.port(), "/metrics", USER, WRONG).statusCode());
        }

        Path passwordFile = dir.resolve("scrape-password");
        Files.writeString(passwordFile, PASSWORD + "\n");
        flags.remove("web.basic-auth.password-hash");
        flags.put("web.basic-auth.password-file", passwordFile.toString());
        try (Exporter exporter = Exporter.start(ExporterTestSupport.settings(cluster, flags))) {
            assertEquals(200, get(trustingClient, "https", exporter.port(), "/metrics", USER, PASSWORD).statusCode());
            assertEquals(401, get(trustingClient, "https", exporter.port(), "/metrics", USER, WRONG).statusCode());
            assertEquals(401, get(trustingClient, "https", exporter.port(), "/metrics", USER, PASSWORD + "x").statusCode());
        }
    }

    @Test
    void badTlsOrAuthSettingsStopStartUpNamingTheKey() throws Exception {
        TestCertificates.Issued other = ca.server("other");
        ConfigException mismatch = assertThrows(ConfigException.class, () -> Exporter.start(ExporterTestSupport.settings(cluster,
                Map.of("web.tls.cert-file", serverCert.cert().toString(), "web.tls.key-file", other.key().toString()))));
        assertTrue(mismatch.getMessage().startsWith("pg-batch-exporter.web.tls.key-file: "), mismatch.getMessage());
        assertTrue(mismatch.getMessage().contains("is not the private key"), mismatch.getMessage());

        ConfigException keyAsCert = assertThrows(ConfigException.class, () -> Exporter.start(ExporterTestSupport.settings(cluster,
                Map.of("web.tls.cert-file", serverCert.key().toString(), "web.tls.key-file", serverCert.key().toString()))));
        assertTrue(keyAsCert.getMessage().startsWith("pg-batch-exporter.web.tls.cert-file: "), keyAsCert.getMessage());

        ConfigException onlyCert = assertThrows(ConfigException.class, () -> ExporterTestSupport.settings(cluster,
                Map.of("web.tls.cert-file", serverCert.cert().toString())));
        assertTrue(onlyCert.getMessage().startsWith("pg-batch-exporter.web.tls.key-file: "), onlyCert.getMessage());

        ConfigException notBcrypt = assertThrows(ConfigException.class, () -> ExporterTestSupport.settings(cluster,
                Map.of("web.basic-auth.username", USER, "web.basic-auth.password-hash", PASSWORD)));
        assertTrue(notBcrypt.getMessage().startsWith("pg-batch-exporter.web.basic-auth.password-hash: "), notBcrypt.getMessage());
        assertFalse(notBcrypt.getMessage().contains(PASSWORD), "the value is not echoed: " + notBcrypt.getMessage());

        ConfigException noPassword = assertThrows(ConfigException.class, () -> ExporterTestSupport.settings(cluster,
                Map.of("web.basic-auth.username", USER)));
        assertTrue(noPassword.getMessage().contains("exactly one"), noPassword.getMessage());
    }

    /** Main as a process: served over HTTPS, and neither the configured nor a tried password is ever printed. */
    @Test
    void passwordsNeverReachTheLog() throws Exception {
        Path passwordFile = dir.resolve("process-password");
        Files.writeString(passwordFile, PASSWORD + "\n");
        Path log = dir.resolve("exporter.log");
        Map<String, String> env = Map.of("DATA_SOURCE_NAME", "postgresql://" + ExporterTestSupport.MONITOR_USER + ":"
                + ExporterTestSupport.MONITOR_PASSWORD + "@127.0.0.1:" + cluster.port() + "/postgres",
                "PG_EXPORTER_WEB_BASIC_AUTH_PASSWORD_FILE", passwordFile.toString());
        try (ExporterProcess process = ExporterProcess.start(env, List.of("--web.listen-address=127.0.0.1:0", "--log.level=debug",
                "--web.tls.cert-file=" + serverCert.cert(), "--web.tls.key-file=" + serverCert.key(),
                "--web.basic-auth.username=" + USER), log)) {
            int port = process.awaitPort();
            assertTrue(process.output().contains("serving https://"), process.output());
            assertEquals(200, get(trustingClient, "https", port, "/metrics", USER, PASSWORD).statusCode());
            for (int i = 0; i < 3; i++) {
                assertEquals(401, get(trustingClient, "https", port, "/metrics", USER, WRONG).statusCode());
            }
            assertThrows(IOException.class, () -> get(client(null), "http", port, "/metrics", USER, PASSWORD));
            process.terminate(30);
            String output = process.output();
            assertFalse(output.contains(PASSWORD), "configured password printed:\n" + output);
            assertFalse(output.contains(WRONG), "tried password printed:\n" + output);
            assertFalse(output.contains(ExporterTestSupport.MONITOR_PASSWORD), "database password printed:\n" + output);
            assertFalse(output.contains(Base64.getEncoder().encodeToString((USER + ":" + WRONG).getBytes(StandardCharsets.UTF_8))),
                    "Authorization header printed:\n" + output);
        }
    }

    private static Map<String, String> tlsAndAuth(Map<String, String> more) {
        Map<String, String> flags = new HashMap<>(Map.of(
                "web.tls.cert-file", serverCert.cert().toString(),
                "web.tls.key-file", serverCert.key().toString(),
                "web.basic-auth.username", USER));
        flags.putAll(more);
        return flags;
    }

    private static HttpClient client(SSLContext context) {
        HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
        if (context != null) {
            builder.sslContext(context);
        }
        return builder.build();
    }

    private static HttpResponse<String> get(HttpClient client, String scheme, int port, String path, String user, String password)
            throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(scheme + "://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(20));
        if (user != null) {
            request.header("Authorization", "Basic " + Base64.getEncoder()
                    .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8)));
        }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }
}
