package io.pgbatchtelemetry.e2e;

/** Stops what an end-to-end stack started, in the order given, each failure reported and the rest still stopped. */
final class Teardown {

    private Teardown() {}

    static void closeAll(AutoCloseable... closeables) {
        for (AutoCloseable closeable : closeables) {
            if (closeable != null) {
                try {
                    closeable.close();
                } catch (Exception e) {
                    System.err.println("e2e teardown: " + e);
                }
            }
        }
    }
}
