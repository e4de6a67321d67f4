package io.pgbatchtelemetry.exporter.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A loopback TCP proxy that can stop forwarding without closing anything, the way a network
 * stall looks to both ends (a firewall dropping packets, a frozen VM, a saturated link): sockets
 * stay open, bytes stop arriving. Plain sockets and two pump threads per connection; test use only.
 */
public final class StallingProxy implements AutoCloseable {

    private final ServerSocket listener;
    private final InetSocketAddress target;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final Object gate = new Object();
    private volatile boolean stalled;
    private volatile boolean closed;
    private final AtomicLong upstreamChunks = new AtomicLong();

    public StallingProxy(String targetHost, int targetPort) throws IOException {
        this.target = new InetSocketAddress(targetHost, targetPort);
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::acceptLoop, "proxy-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return listener.getLocalPort();
    }

    /** Stops forwarding bytes in both directions; connections stay open and new ones are accepted but not served. */
    public void stall() {
        stalled = true;
    }

    public void resume() {
        synchronized (gate) {
            stalled = false;
            gate.notifyAll();
        }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = listener.accept();
                sockets.add(client);
                Thread opener = new Thread(() -> connect(client), "proxy-open");
                opener.setDaemon(true);
                opener.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void connect(Socket client) {
        try {
            awaitFlowing();
            Socket server = new Socket();
            server.connect(target, 5000);
            sockets.add(server);
            pump(client, server, "proxy-up", upstreamChunks);
            pump(server, client, "proxy-down", new AtomicLong());
        } catch (IOException | InterruptedException e) {
            closeQuietly(client);
        }
    }

    /**
     * Reads the client side sent toward the server, over every connection: a client that writes a
     * request and waits for the answer sends one per round trip.
     */
    public long upstreamChunks() {
        return upstreamChunks.get();
    }

    private void pump(Socket from, Socket to, String name, AtomicLong chunks) {
        Thread thread = new Thread(() -> {
            byte[] buffer = new byte[16 * 1024];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    chunks.incrementAndGet();
                    awaitFlowing();
                    out.write(buffer, 0, n);
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                // one side went away: close both, as a proxy would
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
    }

    private void awaitFlowing() throws InterruptedException {
        synchronized (gate) {
            while (stalled && !closed) {
                gate.wait(200);
            }
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        resume();
        listener.close();
        sockets.forEach(StallingProxy::closeQuietly);
    }
}
