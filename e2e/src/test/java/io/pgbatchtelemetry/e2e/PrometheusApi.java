package io.pgbatchtelemetry.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;

/** Prometheus' HTTP API: instant and range queries, answered as JSON "result" arrays. */
final class PrometheusApi {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI base;

    PrometheusApi(URI base) {
        this.base = base;
    }

    /** The result array of an instant query; fails on a query error. */
    JsonNode query(String promql) throws IOException, InterruptedException {
        return get("/api/v1/query?query=" + encode(promql));
    }

    /** The result array of an instant query evaluated at {@code time} (Grafana evaluates instant queries at the range's end). */
    JsonNode query(String promql, Instant time) throws IOException, InterruptedException {
        return get("/api/v1/query?query=" + encode(promql) + "&time=" + time.toEpochMilli() / 1000.0);
    }

    JsonNode queryRange(String promql, Instant start, Instant end, Duration step) throws IOException, InterruptedException {
        return get("/api/v1/query_range?query=" + encode(promql) + "&start=" + start.getEpochSecond()
                + "&end=" + end.getEpochSecond() + "&step=" + step.toSeconds());
    }

    /** The series matching a selector in a time range (what Grafana's label_values() asks). */
    JsonNode series(String selector, Instant start, Instant end) throws IOException, InterruptedException {
        return get("/api/v1/series?match[]=" + encode(selector) + "&start=" + start.getEpochSecond() + "&end=" + end.getEpochSecond());
    }

    private JsonNode get(String pathAndQuery) throws IOException, InterruptedException {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(base.resolve(pathAndQuery))
                .timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        JsonNode body = JSON.readTree(response.body());
        if (response.statusCode() != 200 || !"success".equals(body.path("status").asText())) {
            throw new IOException("Prometheus answered " + response.statusCode() + " to " + pathAndQuery + ": " + response.body());
        }
        JsonNode data = body.path("data");
        return data.has("result") ? data.path("result") : data;
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }
}
