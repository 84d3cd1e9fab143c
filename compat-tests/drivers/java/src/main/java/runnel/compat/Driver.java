package runnel.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java client driver of the compat suite. Modes:
 *
 * <ul>
 *   <li>{@code serve}: reads one JSON command per line on stdin and answers one JSON line on
 *       stdout: {@code {"id", "ok", "result" | "error", "log"}}. {@code log} holds every WARN
 *       and ERROR line the Kafka client logged while the command ran, so the test can fail on
 *       them.
 *   <li>{@code member <json>}: one consumer-group member until SIGTERM, writing the records it
 *       committed to a file (the format of compat-tests/group_member.py).
 * </ul>
 *
 * The driver only performs operations and reports what the client saw; every assertion is in
 * the Python tests.
 */
public final class Driver {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Base64.Encoder B64E = Base64.getEncoder();
    static final Base64.Decoder B64D = Base64.getDecoder();

    /** Client log lines at WARN or ERROR, collected between two commands. */
    static final List<String> CAPTURED = new ArrayList<>();

    private static final Map<Integer, Future<JsonNode>> PENDING = new ConcurrentHashMap<>();
    private static final AtomicInteger HANDLES = new AtomicInteger();
    private static final ExecutorService BACKGROUND = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "driver-background");
        t.setDaemon(true);
        return t;
    });

    private Driver() {}

    public static void main(String[] args) throws Exception {
        installLogTap();
        String mode = args.length > 0 ? args[0] : "serve";
        switch (mode) {
            case "serve" -> serve();
            case "member" -> Member.run(JSON.readTree(args[1]));
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        }
    }

    /**
     * slf4j-simple writes to System.err, resolved at each write: a tee in front of it keeps the
     * stream visible to the test's stderr file and copies WARN/ERROR lines into CAPTURED.
     */
    static void installLogTap() {
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "info");
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
        System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "HH:mm:ss.SSS");
        System.setProperty("org.slf4j.simpleLogger.showThreadName", "true");
        System.setProperty("org.slf4j.simpleLogger.showLogName", "true");
        PrintStream real = System.err;
        OutputStream tee = new OutputStream() {
            private final ByteArrayOutputStream line = new ByteArrayOutputStream();

            @Override
            public synchronized void write(int b) {
                real.write(b);
                if (b == '\n') {
                    String text = line.toString(StandardCharsets.UTF_8);
                    line.reset();
                    if (text.contains(" WARN ") || text.contains(" ERROR ")) {
                        synchronized (CAPTURED) {
                            CAPTURED.add(text);
                        }
                    }
                } else {
                    line.write(b);
                }
            }

            @Override
            public void flush() {
                real.flush();
            }
        };
        System.setErr(new PrintStream(tee, true, StandardCharsets.UTF_8));
        // A missing or mismatched binding logs nothing: the log check would pass on silence.
        if (org.slf4j.LoggerFactory.getILoggerFactory() instanceof org.slf4j.helpers.NOPLoggerFactory) {
            throw new IllegalStateException("no SLF4J binding: the client's log would not be captured");
        }
    }

    static List<String> drainLog() {
        synchronized (CAPTURED) {
            List<String> out = new ArrayList<>(CAPTURED);
            CAPTURED.clear();
            return out;
        }
    }

    private static void serve() throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode cmd = JSON.readTree(line);
            ObjectNode reply = JSON.createObjectNode();
            reply.set("id", cmd.get("id"));
            drainLog();
            try {
                reply.set("result", dispatch(cmd));
                reply.put("ok", true);
            } catch (Exception e) {
                reply.put("ok", false);
                reply.set("error", error(e));
            }
            ArrayNode log = reply.putArray("log");
            drainLog().forEach(log::add);
            out.println(JSON.writeValueAsString(reply));
        }
        BACKGROUND.shutdownNow();
    }

    private static JsonNode dispatch(JsonNode cmd) throws Exception {
        String op = cmd.path("op").asText();
        return switch (op) {
            case "version" -> version();
            case "produce" -> produce(cmd);
            case "produce_start" -> {
                int handle = HANDLES.incrementAndGet();
                PENDING.put(handle, BACKGROUND.submit(() -> produce(cmd)));
                yield JSON.valueToTree(Map.of("handle", handle));
            }
            case "wait" -> {
                Future<JsonNode> f = PENDING.remove(cmd.path("handle").asInt());
                if (f == null) {
                    throw new IllegalArgumentException("no pending handle " + cmd.path("handle"));
                }
                yield f.get(cmd.path("timeout_s").asLong(120), TimeUnit.SECONDS);
            }
            case "produce_paced" -> PacedProducer.run(cmd);
            case "consume" -> consume(cmd);
            case "init_transactions" -> initTransactions(cmd);
            case "consumer_api" -> ConsumerApi.run(cmd);
            case "admin" -> AdminOps.run(cmd);
            case "tool" -> ToolRunner.run(cmd);
            default -> throw new IllegalArgumentException("unknown op " + op);
        };
    }

    /** The kafka-clients version on the classpath, from the jar's own version file. */
    private static JsonNode version() throws java.io.IOException {
        Properties v = new Properties();
        try (var in = KafkaProducer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            v.load(in);
        }
        return JSON.valueToTree(Map.of("kafka_clients", v.getProperty("version")));
    }

    static ObjectNode error(Throwable e) {
        Throwable root = e;
        while ((root instanceof java.util.concurrent.ExecutionException
                || root instanceof org.apache.kafka.common.KafkaException && root.getCause() != null
                    && root.getClass() == org.apache.kafka.common.KafkaException.class)
                && root.getCause() != null) {
            root = root.getCause();
        }
        ObjectNode n = JSON.createObjectNode();
        n.put("class", root.getClass().getSimpleName());
        n.put("message", String.valueOf(root.getMessage()));
        return n;
    }

    static Properties props(JsonNode cmd, Map<String, Object> defaults) {
        Properties p = new Properties();
        p.putAll(defaults);
        p.put("bootstrap.servers", cmd.path("bootstrap").asText());
        Iterator<Map.Entry<String, JsonNode>> it = cmd.path("config").fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            p.put(e.getKey(), e.getValue().asText());
        }
        return p;
    }

    static byte[] bytes(JsonNode n) {
        return n == null || n.isNull() ? null : B64D.decode(n.asText());
    }

    static String b64(byte[] b) {
        return b == null ? null : B64E.encodeToString(b);
    }

    /**
     * A transactional producer's first call: {"ok"} or {"error"}, and how long
     * initTransactions took before it returned or threw ("elapsed_ms").
     */
    static JsonNode initTransactions(JsonNode cmd) {
        Properties p = props(cmd, Map.of(
            "key.serializer", ByteArraySerializer.class.getName(),
            "value.serializer", ByteArraySerializer.class.getName()));
        ObjectNode out = JSON.createObjectNode();
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p);
        long start = System.nanoTime();
        try {
            producer.initTransactions();
            out.put("ok", true);
        } catch (Exception e) {
            out.put("ok", false);
            out.set("error", error(e));
        }
        out.put("elapsed_ms", (System.nanoTime() - start) / 1_000_000);
        producer.close(Duration.ofSeconds(5));
        return out;
    }

    /**
     * Sends every record with a callback, then flushes. Result: one entry per record, in input
     * order, {"partition", "offset"} or {"error"}; with "interval_ms" the sends are spaced out
     * (a producer that lives across a broker restart).
     */
    static JsonNode produce(JsonNode cmd) throws Exception {
        Properties p = props(cmd, Map.of(
            "key.serializer", ByteArraySerializer.class.getName(),
            "value.serializer", ByteArraySerializer.class.getName()));
        String topic = cmd.path("topic").asText();
        JsonNode recs = cmd.path("records");
        long interval = cmd.path("interval_ms").asLong(0);
        ObjectNode[] results = new ObjectNode[recs.size()];
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < recs.size(); i++) {
                JsonNode r = recs.get(i);
                List<Header> headers = new ArrayList<>();
                for (JsonNode h : r.path("h")) {
                    headers.add(new RecordHeader(h.get(0).asText(), bytes(h.get(1))));
                }
                Integer partition = r.path("p").isMissingNode() || r.path("p").isNull() ? null : r.path("p").asInt();
                Long ts = r.path("ts").isMissingNode() || r.path("ts").isNull() ? null : r.path("ts").asLong();
                ProducerRecord<byte[], byte[]> rec =
                    new ProducerRecord<>(topic, partition, ts, bytes(r.get("k")), bytes(r.get("v")), headers);
                final int idx = i;
                try {
                    producer.send(rec, (RecordMetadata md, Exception e) -> {
                        ObjectNode res = JSON.createObjectNode();
                        if (e != null) {
                            res.set("error", error(e));
                        } else {
                            res.put("partition", md.partition());
                            res.put("offset", md.offset());
                            res.put("timestamp", md.timestamp());
                        }
                        synchronized (results) {
                            results[idx] = res;
                        }
                    });
                } catch (Exception e) {
                    ObjectNode res = JSON.createObjectNode();
                    res.set("error", error(e));
                    synchronized (results) {
                        results[idx] = res;
                    }
                }
                if (interval > 0) {
                    Thread.sleep(interval);
                }
            }
            producer.flush();
        }
        ArrayNode out = JSON.createArrayNode();
        synchronized (results) {
            for (ObjectNode r : results) {
                out.add(r);
            }
        }
        return out;
    }

    static ObjectNode record(ConsumerRecord<byte[], byte[]> m) {
        ObjectNode r = JSON.createObjectNode();
        r.put("p", m.partition());
        r.put("o", m.offset());
        r.put("k", b64(m.key()));
        r.put("v", b64(m.value()));
        ArrayNode hs = r.putArray("h");
        for (Header h : m.headers()) {
            ArrayNode pair = hs.addArray();
            pair.add(h.key());
            pair.add(b64(h.value()));
        }
        r.put("ts", m.timestamp());
        r.put("tstype", m.timestampType().name);
        return r;
    }

    static Map<String, Object> consumerDefaults() {
        Map<String, Object> d = new HashMap<>();
        d.put("key.deserializer", ByteArrayDeserializer.class.getName());
        d.put("value.deserializer", ByteArrayDeserializer.class.getName());
        d.put("enable.auto.commit", "false");
        d.put("auto.offset.reset", "earliest");
        return d;
    }

    /** assign + seek (or seekToBeginning), then poll until want[p] records per partition. */
    static JsonNode consume(JsonNode cmd) {
        Properties p = props(cmd, consumerDefaults());
        String topic = cmd.path("topic").asText();
        Map<Integer, Integer> want = new HashMap<>();
        cmd.path("want").fields().forEachRemaining(e -> want.put(Integer.parseInt(e.getKey()), e.getValue().asInt()));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(cmd.path("timeout_s").asLong(120));
        Map<Integer, ArrayNode> got = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int part : want.keySet()) {
                tps.add(new TopicPartition(topic, part));
                got.put(part, JSON.createArrayNode());
            }
            c.assign(tps);
            for (TopicPartition tp : tps) {
                JsonNode s = cmd.path("start").get(String.valueOf(tp.partition()));
                if (s != null) {
                    c.seek(tp, s.asLong());
                } else {
                    c.seekToBeginning(List.of(tp));
                }
            }
            while (want.entrySet().stream().anyMatch(e -> got.get(e.getKey()).size() < e.getValue())) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("timed out: got " + counts(got) + ", want " + want);
                }
                for (ConsumerRecord<byte[], byte[]> m : c.poll(Duration.ofMillis(500))) {
                    got.get(m.partition()).add(record(m));
                }
            }
        }
        ObjectNode out = JSON.createObjectNode();
        got.forEach((part, recs) -> out.set(String.valueOf(part), recs));
        return out;
    }

    private static Map<Integer, Integer> counts(Map<Integer, ArrayNode> got) {
        Map<Integer, Integer> c = new HashMap<>();
        got.forEach((k, v) -> c.put(k, v.size()));
        return c;
    }
}
