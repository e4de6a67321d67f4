package io.pgbatchtelemetry.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** An HTTP endpoint on loopback that records Alertmanager's webhook notifications. */
final class WebhookReceiver implements AutoCloseable {

    /**
     * One alert of one notification, with the path (the receiver) it was posted to and the notification's group
     * (Alertmanager's groupKey and the group_by labels' values).
     */
    record Delivery(String path, String status, String alertname, JsonNode alert, String groupKey, JsonNode groupLabels) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpServer server;
    private final List<Delivery> deliveries = new CopyOnWriteArrayList<>();

    WebhookReceiver() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        server.createContext("/", exchange -> {
            try (exchange) {
                JsonNode notification = JSON.readTree(exchange.getRequestBody());
                for (JsonNode alert : notification.path("alerts")) {
                    deliveries.add(new Delivery(exchange.getRequestURI().getPath(), alert.path("status").asText(),
                            alert.path("labels").path("alertname").asText(), alert,
                            notification.path("groupKey").asText(), notification.path("groupLabels")));
                }
                exchange.sendResponseHeaders(200, -1);
            }
        });
        server.start();
    }

    String url(String path) {
        return "http://127.0.0.1:" + server.getAddress().getPort() + path;
    }

    List<Delivery> deliveries() {
        return List.copyOf(deliveries);
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
