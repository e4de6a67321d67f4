package io.pgbatchtelemetry.e2e;

import io.pgbatchtelemetry.harness.ChildProcess;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A Prometheus or Alertmanager binary (Debian packages) running on a loopback port in its own temp directory,
 * with its log kept for failure messages. Started ready (its /-/ready answers 200) or not at all.
 */
final class LocalServer implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private final String name;
    private final ChildProcess process;
    private final int port;

    private LocalServer(String name, ChildProcess process, int port) {
        this.name = name;
        this.process = process;
        this.port = port;
    }

    static LocalServer start(String name, Path workDir, int port, List<String> argv, Duration readyWithin) throws IOException {
        LocalServer server = new LocalServer(name, ChildProcess.start(argv, workDir, Map.of(), workDir.resolve(name + ".log")), port);
        long deadline = System.nanoTime() + readyWithin.toNanos();
        while (System.nanoTime() < deadline) {
            if (!server.process.isAlive()) {
                throw new IllegalStateException(name + " exited with " + server.process.exitValue() + ":\n" + server.logTail());
            }
            try {
                HttpResponse<String> ready = HTTP.send(HttpRequest.newBuilder(server.url("/-/ready"))
                        .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
                if (ready.statusCode() == 200) {
                    return server;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            sleep(100);
        }
        server.close();
        throw new IllegalStateException(name + " not ready within " + readyWithin + ":\n" + server.logTail());
    }

    int port() {
        return port;
    }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    String logTail() {
        return process.tail(40);
    }

    @Override
    public void close() {
        process.close();
    }

    @Override
    public String toString() {
        return name + " on 127.0.0.1:" + port;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
