package io.pgbatchtelemetry.exporter.http;

import at.favre.lib.crypto.bcrypt.BCrypt;
import com.sun.net.httpserver.BasicAuthenticator;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * HTTP basic authentication for one configured user, as Prometheus' web-config does it.
 *
 * <p>bcrypt is slow on purpose (tens of milliseconds at cost 10), which is right for a guess and
 * wrong for Prometheus presenting the same good credentials every 15 seconds. So, like the
 * exporter-toolkit, a successful check is remembered: as an HMAC of the credentials under a key
 * made at start-up, never the password itself, and compared in constant time. Wrong credentials
 * always pay the full bcrypt price, and the user name is compared in constant time too, so timing
 * tells an attacker neither. Nothing here logs: a failed attempt is answered with 401 and no more.
 */
final class BasicAuthCheck extends BasicAuthenticator {

    static final String REALM = "pg-batch-exporter";
    private static final int REMEMBERED = 16;

    private final byte[] username;
    private final byte[] passwordHash;
    private final byte[] passwordDigest;
    private final SecretKeySpec macKey;
    private final Set<String> verified = ConcurrentHashMap.newKeySet();

    BasicAuthCheck(ExporterSettings.BasicAuth auth) {
        super(REALM, StandardCharsets.UTF_8);
        this.username = auth.username().getBytes(StandardCharsets.UTF_8);
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        this.macKey = new SecretKeySpec(key, "HmacSHA256");
        if (auth.passwordHash().isEmpty()) {
            this.passwordHash = null;
            this.passwordDigest = mac(auth.password());
        } else {
            this.passwordHash = auth.passwordHash().getBytes(StandardCharsets.US_ASCII);
            this.passwordDigest = null;
        }
    }

    @Override
    public boolean checkCredentials(String user, String password) {
        boolean userMatches = MessageDigest.isEqual(username, user.getBytes(StandardCharsets.UTF_8));
        byte[] presented = mac(password);
        if (passwordDigest != null) {
            return MessageDigest.isEqual(passwordDigest, presented) & userMatches;
        }
        String token = java.util.HexFormat.of().formatHex(presented);
        if (userMatches && verified.contains(token)) {
            return true;
        }
        // verify even for a wrong user name, so that the answer takes as long either way
        boolean passwordMatches = BCrypt.verifyer().verify(password.getBytes(StandardCharsets.UTF_8), passwordHash).verified;
        if (passwordMatches && userMatches) {
            if (verified.size() < REMEMBERED) {
                verified.add(token);
            }
            return true;
        }
        return false;
    }

    private byte[] mac(String password) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(macKey);
            return mac.doFinal(password.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every Java runtime", e);
        }
    }
}
