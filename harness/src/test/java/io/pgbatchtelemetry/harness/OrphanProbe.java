package io.pgbatchtelemetry.harness;

import java.nio.file.Files;

/**
 * A JVM that starts a cluster and never closes it, for {@link NoOrphanServersTest}: with argument
 * "exit" it exits normally (the shutdown hook must clean up), with "hang" it waits to be SIGKILLed
 * (the watchdog must clean up). Prints "&lt;cluster dir&gt; &lt;postmaster pid&gt;" once the server runs.
 */
public final class OrphanProbe {

    private OrphanProbe() {
    }

    public static void main(String[] args) throws Exception {
        PostgresCluster pg = PostgresCluster.builder(Integer.parseInt(args[1])).name("orphan-probe").build();
        pg.start();
        String pid = Files.readAllLines(pg.dataDir().resolve("postmaster.pid")).get(0);
        System.out.println(pg.dataDir().getParent() + " " + pid);
        System.out.flush();
        if ("hang".equals(args[0])) {
            Thread.sleep(Long.MAX_VALUE);
        }
        System.exit(0);
    }
}
