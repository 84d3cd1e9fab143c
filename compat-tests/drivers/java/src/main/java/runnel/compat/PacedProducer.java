package runnel.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The {@code produce_paced} op: one producer writing to one partition at a steady rate for a
 * fixed time, the way an application keeps writing while a broker fails under it.
 *
 * <p>Command: {@code bootstrap, topic, partition, duration_ms, rate} (records per second,
 * default 1000) and {@code config} (producer settings; the defaults are acks=all, idempotence
 * on, a 60 s delivery timeout). Record i has key {@code "i"} and value {@code "v<i>"}. Sends are
 * scheduled against the start time, so a send that blocked is followed by a catch-up burst
 * rather than by a slower rate.
 *
 * <p>Answer, after every send has its callback: {@code sent}, {@code start_ms}, {@code end_ms},
 * {@code acked} as {@code [key, offset, ack_ms]} in callback order ({@code ack_ms} is
 * System.currentTimeMillis in the callback, so the test can line it up with its own wall
 * clock), and {@code errors} as {@code {key, error}} for every send that failed.
 */
final class PacedProducer {
    private PacedProducer() {}

    static JsonNode run(JsonNode cmd) throws Exception {
        Map<String, Object> defaults = new HashMap<>();
        defaults.put("key.serializer", ByteArraySerializer.class.getName());
        defaults.put("value.serializer", ByteArraySerializer.class.getName());
        defaults.put("acks", "all");
        defaults.put("enable.idempotence", "true");
        defaults.put("delivery.timeout.ms", "60000");
        defaults.put("linger.ms", "2");
        defaults.put("retry.backoff.ms", "100");
        Properties p = Driver.props(cmd, defaults);
        String topic = cmd.path("topic").asText();
        int partition = cmd.path("partition").asInt(0);
        long durationMs = cmd.path("duration_ms").asLong(10_000);
        double rate = cmd.path("rate").asDouble(1000);
        if (rate <= 0 || durationMs <= 0) {
            throw new IllegalArgumentException("rate and duration_ms must be positive");
        }
        long intervalNs = (long) (TimeUnit.SECONDS.toNanos(1) / rate);

        ArrayNode acked = Driver.JSON.createArrayNode();
        ArrayNode errors = Driver.JSON.createArrayNode();
        long sent = 0;
        long startMs;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            startMs = System.currentTimeMillis();
            long start = System.nanoTime();
            long end = start + TimeUnit.MILLISECONDS.toNanos(durationMs);
            for (long i = 0; ; i++) {
                long due = start + i * intervalNs;
                if (due >= end) {
                    break;
                }
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                }
                final long key = i;
                byte[] k = Long.toString(i).getBytes(StandardCharsets.UTF_8);
                byte[] v = ("v" + i).getBytes(StandardCharsets.UTF_8);
                try {
                    producer.send(new ProducerRecord<>(topic, partition, k, v), (md, e) -> {
                        long now = System.currentTimeMillis();
                        if (e != null) {
                            ObjectNode err = Driver.JSON.createObjectNode();
                            err.put("key", key);
                            err.set("error", Driver.error(e));
                            synchronized (errors) {
                                errors.add(err);
                            }
                        } else {
                            synchronized (acked) {
                                acked.addArray().add(key).add(md.offset()).add(now);
                            }
                        }
                    });
                } catch (Exception e) {
                    ObjectNode err = Driver.JSON.createObjectNode();
                    err.put("key", key);
                    err.set("error", Driver.error(e));
                    synchronized (errors) {
                        errors.add(err);
                    }
                }
                sent++;
            }
            producer.flush();
        }
        ObjectNode out = Driver.JSON.createObjectNode();
        out.put("sent", sent);
        out.put("start_ms", startMs);
        out.put("end_ms", System.currentTimeMillis());
        synchronized (acked) {
            out.set("acked", acked);
        }
        synchronized (errors) {
            out.set("errors", errors);
        }
        return out;
    }
}
