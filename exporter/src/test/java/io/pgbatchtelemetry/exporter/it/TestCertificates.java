package io.pgbatchtelemetry.exporter.it;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A throw-away certificate authority made with the {@code openssl} CLI, as an operator would make
 * one: a CA, then server or client certificates signed by it (EC P-256 keys, fast to make on two
 * cores), written as PEM into a temporary directory.
 */
public final class TestCertificates {

    private final Path dir;

    private TestCertificates(Path dir) {
        this.dir = dir;
    }

    /** Creates {@code name-ca.crt} / {@code name-ca.key} in {@code dir}. */
    public static TestCertificates authority(Path dir, String name) throws IOException, InterruptedException {
        TestCertificates ca = new TestCertificates(dir);
        ca.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", ca.caKey().toString(), "-out", ca.caCert().toString(), "-days", "2", "-subj", "/CN=" + name + " test CA");
        return ca;
    }

    public Path caCert() {
        return dir.resolve("ca.crt");
    }

    private Path caKey() {
        return dir.resolve("ca.key");
    }

    /** A key pair: PEM certificate and PEM PKCS#8 key. */
    public record Issued(Path cert, Path key) {}

    /** A server certificate for 127.0.0.1 and localhost (subjectAltName), signed by this CA. */
    public Issued server(String name) throws IOException, InterruptedException {
        return server(name, "IP:127.0.0.1,DNS:localhost");
    }

    /** A server certificate for the given subjectAltName list (e.g. {@code IP:127.0.0.1}). */
    public Issued server(String name, String subjectAltNames) throws IOException, InterruptedException {
        return issue(name, "/CN=pgbt test server", "subjectAltName=" + subjectAltNames + "\nextendedKeyUsage=serverAuth\n", "ec");
    }

    /** Like {@link #server} with an RSA key written in the PKCS#1 form ({@code BEGIN RSA PRIVATE KEY}). */
    public Issued serverWithPkcs1RsaKey(String name) throws IOException, InterruptedException {
        Issued issued = issue(name, "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n", "rsa:2048");
        Path pkcs1 = dir.resolve(name + ".rsa.key");
        openssl("rsa", "-in", issued.key().toString(), "-traditional", "-out", pkcs1.toString());
        return new Issued(issued.cert(), pkcs1);
    }

    /** A client certificate whose CN is the PostgreSQL role name. */
    public Issued client(String name, String commonName) throws IOException, InterruptedException {
        return issue(name, "/CN=" + commonName, "extendedKeyUsage=clientAuth\n", "ec");
    }

    /** Converts a PEM key to PKCS#8 DER, the form pgjdbc's {@code sslkey} reads. */
    public Path toPkcs8Der(Path pemKey) throws IOException, InterruptedException {
        Path der = dir.resolve(pemKey.getFileName() + ".pk8");
        openssl("pkcs8", "-topk8", "-nocrypt", "-inform", "PEM", "-outform", "DER", "-in", pemKey.toString(), "-out", der.toString());
        return der;
    }

    private Issued issue(String name, String subject, String extensions, String keyType) throws IOException, InterruptedException {
        Path key = dir.resolve(name + ".key");
        Path csr = dir.resolve(name + ".csr");
        Path cert = dir.resolve(name + ".crt");
        Path ext = dir.resolve(name + ".ext");
        Files.writeString(ext, extensions);
        List<String> newKey = keyType.equals("ec")
                ? List.of("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")
                : List.of("-newkey", keyType);
        List<String> req = new ArrayList<>(List.of("req"));
        req.addAll(newKey);
        req.addAll(List.of("-nodes", "-keyout", key.toString(), "-out", csr.toString(), "-subj", subject));
        openssl(req.toArray(new String[0]));
        openssl("x509", "-req", "-in", csr.toString(), "-CA", caCert().toString(), "-CAkey", caKey().toString(),
                "-CAcreateserial", "-out", cert.toString(), "-days", "2", "-extfile", ext.toString());
        return new Issued(cert, key);
    }

    /** A client SSLContext that trusts only this CA. */
    public SSLContext clientContext() throws Exception {
        return trusting(caCert());
    }

    public static SSLContext trusting(Path caCert) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(caCert)) {
            trust.setCertificateEntry("ca", (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(trust);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, factory.getTrustManagers(), null);
        return context;
    }

    private void openssl(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
            process.destroyForcibly();
            throw new IOException("openssl " + String.join(" ", args) + " failed: " + output);
        }
    }
}
