package io.pgbatchtelemetry.exporter.http;

import io.pgbatchtelemetry.exporter.config.ConfigException;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * An {@link SSLContext} from the PEM files operators already have (the same files nginx,
 * Prometheus' web-config or PostgreSQL use), with the JDK alone.
 *
 * <p>Java keystores are not asked for: converting PEM to PKCS#12 is one more step to get wrong
 * on every certificate renewal. Keys are read as unencrypted PKCS#8 ({@code BEGIN PRIVATE KEY},
 * what {@code openssl genpkey} and OpenSSL 3 write) or PKCS#1 RSA ({@code BEGIN RSA PRIVATE KEY},
 * wrapped into PKCS#8 here); RSA, EC and Ed25519 keys work. Anything else fails start-up with the
 * {@code openssl} command that converts it. The key is checked against the certificate (a
 * signature made with one is verified with the other), so a mismatched pair fails at start-up, not
 * at the first handshake.
 */
public final class PemTlsContext {

    private static final String CERT_KEY = "pg-batch-exporter.web.tls.cert-file";
    private static final String KEY_KEY = "pg-batch-exporter.web.tls.key-file";
    private static final Pattern PEM = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]*?)-----END \\1-----");
    private static final char[] NO_PASSWORD = new char[0];
    private static final String TO_PKCS8 = "convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pkcs8.pem";

    private PemTlsContext() {}

    /** @throws ConfigException naming {@code web.tls.cert-file} or {@code web.tls.key-file} */
    public static SSLContext create(ExporterSettings.Tls tls) {
        List<X509Certificate> chain = certificates(Path.of(tls.certFile()));
        PrivateKey key = privateKey(Path.of(tls.keyFile()));
        requireMatch(key, chain.get(0), tls);
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("server", key, NO_PASSWORD, chain.toArray(new Certificate[0]));
            KeyManagerFactory keyManagers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keyManagers.init(store, NO_PASSWORD);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keyManagers.getKeyManagers(), null, null);
            return context;
        } catch (GeneralSecurityException | IOException e) {
            throw ConfigException.forKey(CERT_KEY, "cannot build a TLS context from " + tls.certFile() + " and "
                    + tls.keyFile() + ": " + e.getMessage());
        }
    }

    private static List<X509Certificate> certificates(Path file) {
        String text = read(CERT_KEY, file);
        List<X509Certificate> chain = new ArrayList<>();
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            Matcher m = PEM.matcher(text);
            while (m.find()) {
                if (!m.group(1).equals("CERTIFICATE")) {
                    continue;
                }
                Collection<? extends Certificate> certs = factory.generateCertificates(
                        new ByteArrayInputStream(m.group().getBytes(StandardCharsets.US_ASCII)));
                certs.forEach(c -> chain.add((X509Certificate) c));
            }
        } catch (CertificateException e) {
            throw ConfigException.forKey(CERT_KEY, file + " holds a certificate that cannot be parsed: " + e.getMessage());
        }
        if (chain.isEmpty()) {
            throw ConfigException.forKey(CERT_KEY, file + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        return chain;
    }

    private static PrivateKey privateKey(Path file) {
        String text = read(KEY_KEY, file);
        Matcher m = PEM.matcher(text);
        while (m.find()) {
            String type = m.group(1);
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(m.group(2));
            } catch (IllegalArgumentException e) {
                throw ConfigException.forKey(KEY_KEY, file + ": the " + type + " block is not valid base64");
            }
            return switch (type) {
                case "PRIVATE KEY" -> pkcs8(file, der);
                case "RSA PRIVATE KEY" -> pkcs8(file, Pkcs1.toPkcs8(der));
                case "ENCRYPTED PRIVATE KEY" -> throw ConfigException.forKey(KEY_KEY, file
                        + " is encrypted; the exporter needs an unencrypted key readable only by its user (mode 0600): " + TO_PKCS8);
                case "EC PRIVATE KEY" -> throw ConfigException.forKey(KEY_KEY, file + " is a SEC1 EC key; " + TO_PKCS8);
                default -> throw ConfigException.forKey(KEY_KEY, file + " holds a '" + type + "' block, not a private key");
            };
        }
        throw ConfigException.forKey(KEY_KEY, file + " holds no PEM private key (-----BEGIN PRIVATE KEY-----)");
    }

    private static PrivateKey pkcs8(Path file, byte[] der) {
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        for (String algorithm : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (InvalidKeySpecException | java.security.NoSuchAlgorithmException e) {
                // not this algorithm: try the next
            }
        }
        throw ConfigException.forKey(KEY_KEY, file + " holds a private key of an unsupported kind (RSA, EC and Ed25519 work)");
    }

    /** Signs a probe with the key and verifies it with the certificate's public key. */
    private static void requireMatch(PrivateKey key, X509Certificate certificate, ExporterSettings.Tls tls) {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "RSASSA-PSS" -> "RSASSA-PSS";
            default -> key.getAlgorithm(); // EdDSA names its own signature
        };
        byte[] probe = "pg-batch-exporter".getBytes(StandardCharsets.US_ASCII);
        boolean matches;
        try {
            Signature signer = Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) {
                signer.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1",
                        java.security.spec.MGF1ParameterSpec.SHA256, 32, 1));
            }
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            signer.initVerify(certificate.getPublicKey());
            signer.update(probe);
            matches = signer.verify(signature);
        } catch (GeneralSecurityException e) {
            matches = false;
        }
        if (!matches) {
            throw ConfigException.forKey(KEY_KEY, tls.keyFile() + " is not the private key of the certificate in "
                    + tls.certFile() + " (" + certificate.getSubjectX500Principal().getName() + ")");
        }
    }

    private static String read(String key, Path file) {
        try {
            return Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException | java.io.UncheckedIOException e) {
            throw ConfigException.forKey(key, "cannot read " + file + " (" + e.getClass().getSimpleName() + ")");
        }
    }

    /**
     * Wraps a PKCS#1 RSAPrivateKey into a PKCS#8 PrivateKeyInfo: a SEQUENCE of version 0, the
     * rsaEncryption algorithm identifier and the PKCS#1 bytes as an OCTET STRING.
     */
    static final class Pkcs1 {
        private static final byte[] RSA_ALGORITHM = {
            0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
        private static final byte[] VERSION_0 = {0x02, 0x01, 0x00};

        private Pkcs1() {}

        static byte[] toPkcs8(byte[] pkcs1) {
            byte[] octets = tlv(0x04, pkcs1);
            byte[] body = new byte[VERSION_0.length + RSA_ALGORITHM.length + octets.length];
            System.arraycopy(VERSION_0, 0, body, 0, VERSION_0.length);
            System.arraycopy(RSA_ALGORITHM, 0, body, VERSION_0.length, RSA_ALGORITHM.length);
            System.arraycopy(octets, 0, body, VERSION_0.length + RSA_ALGORITHM.length, octets.length);
            return tlv(0x30, body);
        }

        private static byte[] tlv(int tag, byte[] value) {
            byte[] length = derLength(value.length);
            byte[] out = new byte[1 + length.length + value.length];
            out[0] = (byte) tag;
            System.arraycopy(length, 0, out, 1, length.length);
            System.arraycopy(value, 0, out, 1 + length.length, value.length);
            return out;
        }

        private static byte[] derLength(int length) {
            if (length < 0x80) {
                return new byte[] {(byte) length};
            }
            int bytes = length < 0x100 ? 1 : length < 0x10000 ? 2 : length < 0x1000000 ? 3 : 4;
            byte[] out = new byte[1 + bytes];
            out[0] = (byte) (0x80 | bytes);
            for (int i = bytes; i > 0; i--) {
                out[i] = (byte) (length & 0xff);
                length >>>= 8;
            }
            return out;
        }
    }
}
