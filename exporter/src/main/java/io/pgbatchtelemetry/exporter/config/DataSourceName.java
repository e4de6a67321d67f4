package io.pgbatchtelemetry.exporter.config;

import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.StringJoiner;

/**
 * Turns the connection strings users already have into a JDBC URL without credentials.
 *
 * <p>postgres_exporter users set {@code DATA_SOURCE_NAME} as a libpq URI or key=value string;
 * Java users have JDBC URLs. All three are accepted so that switching exporters is a drop-in.
 * The user and password are lifted out of the URL into separate fields, so the URL can be logged
 * and shown in errors without ever carrying a secret. Error messages describe the problem, never
 * echo the input (it may hold a password).
 *
 * @param jdbcUrl   {@code jdbc:postgresql://host:port/db?params}, no user or password
 * @param user      user from the string, or empty
 * @param password  password from the string, or empty
 */
public record DataSourceName(String jdbcUrl, String user, String password) {

    private static final String JDBC_PREFIX = "jdbc:postgresql:";

    @Override
    public String toString() {
        return "DataSourceName[jdbcUrl=" + jdbcUrl + ", user=" + user + ", password=" + (password.isEmpty() ? "" : "***") + "]";
    }

    /**
     * Parses {@code text}; {@code key} names the setting in error messages.
     *
     * @throws ConfigException when the string is none of the accepted forms
     */
    public static DataSourceName parse(String key, String text) {
        String trimmed = text.strip();
        if (trimmed.isEmpty()) {
            throw ConfigException.forKey(key, "empty; set DATA_SOURCE_NAME (e.g. postgresql://user@127.0.0.1:5432/postgres) or data-source.url");
        }
        if (trimmed.startsWith(JDBC_PREFIX)) {
            return fromUri(key, trimmed.substring(JDBC_PREFIX.length()), true);
        }
        if (trimmed.startsWith("postgresql://") || trimmed.startsWith("postgres://")) {
            return fromUri(key, trimmed.substring(trimmed.indexOf(':') + 1), false);
        }
        if (trimmed.contains("=")) {
            return fromKeyValue(key, trimmed);
        }
        throw ConfigException.forKey(key, "not a postgresql:// URI, a key=value connection string or a jdbc:postgresql: URL");
    }

    /** {@code //[user[:password]@]hostspec[/db][?params]} as in libpq and pgjdbc. */
    private static DataSourceName fromUri(String key, String rest, boolean jdbc) {
        if (!rest.startsWith("//")) {
            throw ConfigException.forKey(key, "URL must have the form //host:port/database after the scheme");
        }
        String afterSlashes = rest.substring(2);
        int queryStart = afterSlashes.indexOf('?');
        String query = queryStart >= 0 ? afterSlashes.substring(queryStart + 1) : "";
        String authorityAndPath = queryStart >= 0 ? afterSlashes.substring(0, queryStart) : afterSlashes;
        int pathStart = authorityAndPath.indexOf('/');
        String authority = pathStart >= 0 ? authorityAndPath.substring(0, pathStart) : authorityAndPath;
        String database = pathStart >= 0 ? decode(key, authorityAndPath.substring(pathStart + 1)) : "";

        String user = "";
        String password = "";
        int at = authority.lastIndexOf('@');
        if (at >= 0) {
            String userInfo = authority.substring(0, at);
            authority = authority.substring(at + 1);
            int colon = userInfo.indexOf(':');
            user = decode(key, colon >= 0 ? userInfo.substring(0, colon) : userInfo);
            password = colon >= 0 ? decode(key, userInfo.substring(colon + 1)) : "";
        }

        Map<String, String> params = new LinkedHashMap<>();
        for (String pair : query.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String name = decode(key, eq >= 0 ? pair.substring(0, eq) : pair);
            String value = eq >= 0 ? decode(key, pair.substring(eq + 1)) : "";
            params.put(name, value);
        }
        String paramUser = params.remove("user");
        String paramPassword = params.remove("password");
        if (user.isEmpty() && paramUser != null) {
            user = paramUser;
        }
        if (password.isEmpty() && paramPassword != null) {
            password = paramPassword;
        }
        String hostParam = params.remove("host");
        if (authority.isEmpty() && hostParam != null) {
            authority = hostParam;
        }
        String dbParam = params.remove("dbname");
        if (database.isEmpty() && dbParam != null) {
            database = dbParam;
        }
        if (!jdbc) {
            translateLibpqParams(params);
        }
        return build(key, authority, database, user, password, params);
    }

    /** libpq {@code key=value key='quoted value'} pairs. */
    private static DataSourceName fromKeyValue(String key, String text) {
        Map<String, String> pairs = new LinkedHashMap<>();
        int i = 0;
        while (i < text.length()) {
            while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
                i++;
            }
            if (i >= text.length()) {
                break;
            }
            int eq = text.indexOf('=', i);
            if (eq < 0) {
                throw ConfigException.forKey(key, "key=value connection string has a word without '=' at position " + i);
            }
            String name = text.substring(i, eq).strip();
            if (!name.matches("[A-Za-z_]+")) {
                // don't echo the text: a stray quote may have left part of a password in it
                throw ConfigException.forKey(key, "key=value connection string: expected a keyword before '=' at position " + i);
            }
            i = eq + 1;
            while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
                i++;
            }
            StringBuilder value = new StringBuilder();
            if (i < text.length() && text.charAt(i) == '\'') {
                i++;
                boolean closed = false;
                while (i < text.length()) {
                    char c = text.charAt(i++);
                    if (c == '\\' && i < text.length()) {
                        value.append(text.charAt(i++));
                    } else if (c == '\'') {
                        closed = true;
                        break;
                    } else {
                        value.append(c);
                    }
                }
                if (!closed) {
                    throw ConfigException.forKey(key, "key=value connection string: unterminated quote in the value of '" + name + "'");
                }
            } else {
                while (i < text.length() && !Character.isWhitespace(text.charAt(i))) {
                    char c = text.charAt(i++);
                    if (c == '\\' && i < text.length()) {
                        value.append(text.charAt(i++));
                    } else {
                        value.append(c);
                    }
                }
            }
            pairs.put(name, value.toString());
        }
        String host = orEmpty(pairs.remove("host"));
        String port = orEmpty(pairs.remove("port"));
        String hostSpec = host.isEmpty() ? "" : (port.isEmpty() ? host : host + ":" + port);
        String database = orEmpty(pairs.remove("dbname"));
        String user = orEmpty(pairs.remove("user"));
        String password = orEmpty(pairs.remove("password"));
        translateLibpqParams(pairs);
        return build(key, hostSpec, database, user, password, pairs);
    }

    /** libpq spellings that pgjdbc names differently; the rest (sslmode, sslrootcert, ...) are shared. */
    private static void translateLibpqParams(Map<String, String> params) {
        String connectTimeout = params.remove("connect_timeout");
        if (connectTimeout != null) {
            params.put("connectTimeout", connectTimeout);
        }
        String applicationName = params.remove("application_name");
        if (applicationName != null) {
            params.put("ApplicationName", applicationName);
        }
    }

    private static DataSourceName build(String key, String hostSpec, String database, String user,
                                        String password, Map<String, String> params) {
        if (hostSpec.startsWith("/") || hostSpec.startsWith("%2F") || hostSpec.startsWith("%2f")) {
            throw ConfigException.forKey(key, "Unix-domain socket hosts are not supported by the JDBC driver; use host=127.0.0.1 (TCP)");
        }
        if (hostSpec.isEmpty()) {
            hostSpec = "localhost:5432";
        }
        StringBuilder url = new StringBuilder(JDBC_PREFIX).append("//").append(hostSpec).append('/')
                .append(encode(database.isEmpty() ? "postgres" : database));
        if (!params.isEmpty()) {
            StringJoiner query = new StringJoiner("&", "?", "");
            params.forEach((name, value) -> query.add(encode(name) + "=" + encode(value)));
            url.append(query);
        }
        return new DataSourceName(url.toString(), user, password);
    }

    private static String decode(String key, String s) {
        try {
            return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            // URLDecoder's message quotes the input, which may be the password: name the rule instead
            throw ConfigException.forKey(key, "bad percent-encoding in the URL: '%' must be followed by two hex digits "
                    + "(write a literal % as %25)");
        }
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }
}
