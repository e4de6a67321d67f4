package io.pgbatchtelemetry.exporter.cli;

import java.util.List;

/**
 * The splitting of a command line into long options that both of the jar's command lines use, the exporter's
 * ({@link CommandLine}) and {@code report}'s: {@code --name=value} or {@code --name value}, and {@code -h} as
 * {@code --help}. One rule, so the two command lines cannot come to read the same words differently. What an
 * option means, and the error to raise, stay with each command line.
 *
 * <p>A separate value is the next argument unless that starts with {@code --}: {@code --config.file --log.level=debug}
 * is a missing value, not a file named {@code --log.level=debug}.
 */
public final class LongOptions {

    /**
     * One argument: an option ({@code name} without its dashes; {@code inlineValue} after {@code =}, or null), or a word
     * that is not an option ({@code name} null; {@code argument} is the word as given).
     */
    public record Option(String argument, String name, String inlineValue) {
        public boolean isOption() {
            return name != null;
        }
    }

    private final List<String> args;
    private int next;

    public LongOptions(List<String> args) {
        this.args = List.copyOf(args);
    }

    public boolean hasNext() {
        return next < args.size();
    }

    public Option next() {
        String argument = args.get(next++);
        if (argument.equals("-h")) {
            return new Option(argument, "help", null);
        }
        if (!argument.startsWith("--")) {
            return new Option(argument, null, null);
        }
        String name = argument.substring(2);
        int eq = name.indexOf('=');
        return eq < 0 ? new Option(argument, name, null) : new Option(argument, name.substring(0, eq), name.substring(eq + 1));
    }

    /** The option's value: after its {@code =}, else the next argument (consumed) unless that is an option; null when it has none. */
    public String value(Option option) {
        if (option.inlineValue() != null) {
            return option.inlineValue();
        }
        if (hasNext() && !args.get(next).startsWith("--")) {
            return args.get(next++);
        }
        return null;
    }
}
