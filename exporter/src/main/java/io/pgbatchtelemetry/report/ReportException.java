package io.pgbatchtelemetry.report;

/**
 * A report that cannot be made, for a reason the user can act on (unknown run, no schema, bad
 * option). The command prints its message as one line and exits with status 2.
 */
public final class ReportException extends RuntimeException {

    public ReportException(String message) {
        super(message);
    }
}
