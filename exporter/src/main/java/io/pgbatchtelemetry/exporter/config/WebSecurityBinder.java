package io.pgbatchtelemetry.exporter.config;

import com.typesafe.config.Config;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * Binds and checks {@code web.tls} and {@code web.basic-auth}.
 *
 * <p>Only what can be judged without building a TLS context is checked here (both files given,
 * readable, a well-formed bcrypt hash); the PEM contents are checked when the server starts, with
 * messages that name the same keys. A password hash or password never appears in a message.
 */
final class WebSecurityBinder {

    private static final String TLS = SettingsLoader.ROOT + ".web.tls.";
    private static final String AUTH = SettingsLoader.ROOT + ".web.basic-auth.";
    /** Modular crypt format of bcrypt: $2a$, $2b$ or $2y$, a two-digit cost, 53 characters of salt and hash. */
    private static final Pattern BCRYPT = Pattern.compile("\\$2[aby]\\$(\\d\\d)\\$[./A-Za-z0-9]{53}");

    private WebSecurityBinder() {}

    static ExporterSettings.Tls tls(Config c) {
        String cert = string(c, "web.tls.cert-file");
        String key = string(c, "web.tls.key-file");
        if (cert.isEmpty() && key.isEmpty()) {
            return ExporterSettings.Tls.OFF;
        }
        if (cert.isEmpty() || key.isEmpty()) {
            String missing = cert.isEmpty() ? "cert-file" : "key-file";
            throw ConfigException.forKey(TLS + missing, "must be set too: TLS needs both web.tls.cert-file and web.tls.key-file");
        }
        requireReadable(TLS + "cert-file", cert);
        requireReadable(TLS + "key-file", key);
        return new ExporterSettings.Tls(cert, key);
    }

    static ExporterSettings.BasicAuth basicAuth(Config c) {
        String username = string(c, "web.basic-auth.username");
        String hash = string(c, "web.basic-auth.password-hash").strip();
        String passwordFile = string(c, "web.basic-auth.password-file");
        if (username.isEmpty()) {
            if (!hash.isEmpty() || !passwordFile.isEmpty()) {
                throw ConfigException.forKey(AUTH + "username", "must be set when a password-hash or password-file is");
            }
            return ExporterSettings.BasicAuth.OFF;
        }
        if (username.contains(":")) {
            throw ConfigException.forKey(AUTH + "username", "must not contain ':' (basic auth separates user and password with it)");
        }
        if (hash.isEmpty() == passwordFile.isEmpty()) {
            throw ConfigException.forKey(AUTH + "password-hash", "set exactly one of web.basic-auth.password-hash (bcrypt) "
                    + "and web.basic-auth.password-file");
        }
        if (!hash.isEmpty()) {
            var matcher = BCRYPT.matcher(hash);
            if (!matcher.matches()) {
                throw ConfigException.forKey(AUTH + "password-hash", "not a bcrypt hash (expected $2a$, $2b$ or $2y$, a cost "
                        + "and 53 characters, e.g. from htpasswd -nBC 10 \"\"; the value is not shown)");
            }
            int cost = Integer.parseInt(matcher.group(1));
            if (cost < 4 || cost > 31) {
                throw ConfigException.forKey(AUTH + "password-hash", "bcrypt cost must be between 4 and 31, got " + cost);
            }
            return new ExporterSettings.BasicAuth(username, hash, "");
        }
        String password = SettingsLoader.readPasswordFile(AUTH + "password-file", passwordFile);
        if (password.isEmpty()) {
            throw ConfigException.forKey(AUTH + "password-file", passwordFile + " is empty: an empty password would let anyone in");
        }
        return new ExporterSettings.BasicAuth(username, "", password);
    }

    private static void requireReadable(String key, String file) {
        Path path = Path.of(file);
        if (!Files.exists(path)) {
            throw ConfigException.forKey(key, "cannot read " + file + " (no such file)");
        }
        if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
            throw ConfigException.forKey(key, "cannot read " + file + " (not a readable file)");
        }
    }

    private static String string(Config c, String key) {
        try {
            return c.getString(key);
        } catch (com.typesafe.config.ConfigException e) {
            throw ConfigException.forKey(SettingsLoader.ROOT + "." + key, "expected a string");
        }
    }
}
