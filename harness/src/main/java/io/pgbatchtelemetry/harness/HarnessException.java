package io.pgbatchtelemetry.harness;

/**
 * A PostgreSQL cluster could not be prepared, started, stopped or cloned. The message carries what
 * the failing tool or server said (the tail of the server log, the output of initdb or pg_ctl), so
 * a failed test explains itself without anyone having to find the cluster directory.
 */
public class HarnessException extends RuntimeException {

    public HarnessException(String message) {
        super(message);
    }

    public HarnessException(String message, Throwable cause) {
        super(message, cause);
    }
}
