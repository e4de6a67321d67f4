package io.pgbatchtelemetry.bench;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --name value} / {@code --name=value} / {@code --flag} arguments of a benchmark entry point; an unknown
 * name is an error (exit 2 in the entry points), so a typo never runs a benchmark with defaults silently.
 */
public final class Args {
    private final Map<String, String> values = new HashMap<>();
    private final Set<String> flags = new HashSet<>();

    public Args(String[] args, List<String> valued, List<String> flagNames) {
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + arg);
            }
            String name = arg.substring(2);
            String value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            if (flagNames.contains(name) && value == null) {
                flags.add(name);
            } else if (valued.contains(name)) {
                if (value == null) {
                    if (i + 1 >= args.length) {
                        throw new IllegalArgumentException("--" + name + " needs a value");
                    }
                    value = args[++i];
                }
                values.put(name, value);
            } else {
                throw new IllegalArgumentException("unknown option --" + name);
            }
        }
    }

    /**
     * Fails now, with the option's name, when one of these options was given a value that is not a number
     * (before any server starts), rather than when the benchmark first reads it.
     */
    public Args requireNumbers(List<String> wholeNumbers, List<String> decimals) {
        wholeNumbers.forEach(name -> integer(name, 0));
        decimals.forEach(name -> decimal(name, 0));
        return this;
    }

    public String string(String name, String fallback) {
        return values.getOrDefault(name, fallback);
    }

    public int integer(String name, int fallback) {
        String v = values.get(name);
        try {
            return v == null ? fallback : Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " takes a whole number, not " + v);
        }
    }

    public double decimal(String name, double fallback) {
        String v = values.get(name);
        try {
            return v == null ? fallback : Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " takes a number, not " + v);
        }
    }

    public boolean flag(String name) {
        return flags.contains(name);
    }
}
