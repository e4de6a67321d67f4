package io.pgbatchtelemetry.exporter.http;

import at.favre.lib.crypto.bcrypt.BCrypt;
import com.sun.net.httpserver.Authenticator;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpPrincipal;
import io.pgbatchtelemetry.exporter.config.ExporterSettings;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
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
 * Remembering a success for the life of the process is sound because the hash is fixed for that
 * life: a password that matched once always will, and what is kept can't be turned back into it.
 *
 * <p>A flood of wrong passwords must not take the CPU from scrapes: at most
 * {@value #CONCURRENT_VERIFICATIONS} bcrypt verification runs at a time, and a request that would
 * need another while it runs is answered 429 (Retry-After: 1) at once, before any verification,
 * so it reveals nothing about the password. A remembered credential never waits; one not yet
 * remembered may meet a 429 during a flood and is let in by a later attempt.
 *
 * <p>The header is parsed here rather than by the JDK's {@code BasicAuthenticator}, which throws
 * on a header without a colon or with invalid base64 and so drops the connection: every malformed
 * header is answered 401 with the challenge, like a missing one.
 */
final class BasicAuthCheck extends Authenticator {

    static final String REALM = "pg-batch-exporter";
    static final int CONCURRENT_VERIFICATIONS = 1;
    private static final int REMEMBERED = 16;
    private static final String CHALLENGE = "Basic realm=\"" + REALM + "\", charset=\"UTF-8\"";

    private final byte[] username;
    private final byte[] passwordHash;
    private final byte[] passwordDigest;
    private final SecretKeySpec macKey;
    private final Set<String> verified = ConcurrentHashMap.newKeySet();
    private final Semaphore verifying = new Semaphore(CONCURRENT_VERIFICATIONS);

    BasicAuthCheck(ExporterSettings.BasicAuth auth) {
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

    /** What a check decided: in, out (401), or out for now (429, too many verifications at once). */
    enum Outcome { ACCEPTED, REJECTED, BUSY }

    @Override
    public Result authenticate(HttpExchange exchange) {
        String[] credentials = credentials(exchange.getRequestHeaders().getFirst("Authorization"));
        Outcome outcome = credentials == null ? Outcome.REJECTED : check(credentials[0], credentials[1]);
        switch (outcome) {
            case ACCEPTED -> {
                return new Success(new HttpPrincipal(credentials[0], REALM));
            }
            case BUSY -> {
                exchange.getResponseHeaders().set("Retry-After", "1");
                return new Failure(429);
            }
            default -> {
                exchange.getResponseHeaders().set("WWW-Authenticate", CHALLENGE);
                return new Retry(401);
            }
        }
    }

    /** User and password of a well-formed {@code Basic} header, or null for anything else. */
    static String[] credentials(String header) {
        if (header == null) {
            return null;
        }
        String value = header.strip();
        int space = value.indexOf(' ');
        if (space < 0 || !value.substring(0, space).equalsIgnoreCase("Basic")) {
            return null;
        }
        byte[] decoded;
        try {
            decoded = Base64.getDecoder().decode(value.substring(space + 1).strip());
        } catch (IllegalArgumentException notBase64) {
            return null;
        }
        String pair = new String(decoded, StandardCharsets.UTF_8);
        int colon = pair.indexOf(':');
        return colon < 0 ? null : new String[] {pair.substring(0, colon), pair.substring(colon + 1)};
    }

    Outcome check(String user, String password) {
        boolean userMatches = MessageDigest.isEqual(username, user.getBytes(StandardCharsets.UTF_8));
        byte[] presented = mac(password);
        if (passwordDigest != null) {
            return MessageDigest.isEqual(passwordDigest, presented) & userMatches ? Outcome.ACCEPTED : Outcome.REJECTED;
        }
        String token = java.util.HexFormat.of().formatHex(presented);
        if (userMatches && verified.contains(token)) {
            return Outcome.ACCEPTED;
        }
        if (!verifying.tryAcquire()) {
            return Outcome.BUSY;
        }
        boolean passwordMatches;
        try {
            // verify even for a wrong user name, so that the answer takes as long either way
            passwordMatches = BCrypt.verifyer().verify(password.getBytes(StandardCharsets.UTF_8), passwordHash).verified;
        } finally {
            verifying.release();
        }
        if (passwordMatches && userMatches) {
            if (verified.size() < REMEMBERED) {
                verified.add(token);
            }
            return Outcome.ACCEPTED;
        }
        return Outcome.REJECTED;
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
