package runnel.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.TopicPartition;

/**
 * The consumer's partition-level API in one scenario, reported as observations:
 * beginningOffsets/endOffsets, offsetsForTimes, assign + seek, commitSync + committed,
 * position, pause/resume. The test decides what each must be.
 */
final class ConsumerApi {
    private ConsumerApi() {}

    static JsonNode run(JsonNode cmd) {
        Properties p = Driver.props(cmd, Driver.consumerDefaults());
        String topic = cmd.path("topic").asText();
        int partitions = cmd.path("partitions").asInt();
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        ObjectNode out = Driver.JSON.createObjectNode();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            // Assigned first: the client warns about offsets it looked up for unassigned partitions.
            c.assign(tps);
            ObjectNode beginning = out.putObject("beginning");
            c.beginningOffsets(tps).forEach((tp, o) -> beginning.put(String.valueOf(tp.partition()), o));
            ObjectNode end = out.putObject("end");
            c.endOffsets(tps).forEach((tp, o) -> end.put(String.valueOf(tp.partition()), o));

            Map<TopicPartition, Long> times = new HashMap<>();
            cmd.path("times").fields().forEachRemaining(
                e -> times.put(new TopicPartition(topic, Integer.parseInt(e.getKey())), e.getValue().asLong()));
            ObjectNode forTimes = out.putObject("for_times");
            for (Map.Entry<TopicPartition, OffsetAndTimestamp> e : c.offsetsForTimes(times).entrySet()) {
                String key = String.valueOf(e.getKey().partition());
                if (e.getValue() == null) {
                    forTimes.putNull(key);
                } else {
                    forTimes.putObject(key).put("offset", e.getValue().offset()).put("timestamp", e.getValue().timestamp());
                }
            }

            // seek: the first record polled from each partition is the one sought.
            Map<Integer, Long> seek = new HashMap<>();
            cmd.path("seek").fields().forEachRemaining(e -> seek.put(Integer.parseInt(e.getKey()), e.getValue().asLong()));
            for (TopicPartition tp : tps) {
                if (seek.containsKey(tp.partition())) {
                    c.seek(tp, seek.get(tp.partition()));
                } else {
                    c.seekToBeginning(List.of(tp));
                }
            }
            ObjectNode first = out.putObject("first_after_seek");
            Set<Integer> missing = new TreeSet<>();
            for (TopicPartition tp : tps) {
                missing.add(tp.partition());
            }
            long deadline = System.currentTimeMillis() + 30_000;
            while (!missing.isEmpty() && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> m : c.poll(Duration.ofMillis(200))) {
                    if (missing.remove(m.partition())) {
                        first.put(String.valueOf(m.partition()), m.offset());
                    }
                }
            }
            ObjectNode position = out.putObject("position");
            for (TopicPartition tp : tps) {
                position.put(String.valueOf(tp.partition()), c.position(tp));
            }

            // commitSync with metadata, then committed() reads it back.
            Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
            cmd.path("commit").fields().forEachRemaining(e -> commit.put(
                new TopicPartition(topic, Integer.parseInt(e.getKey())),
                new OffsetAndMetadata(e.getValue().asLong(), "driver-" + e.getKey())));
            if (!commit.isEmpty()) {
                c.commitSync(commit);
            }
            ObjectNode committed = out.putObject("committed");
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : c.committed(Set.copyOf(tps)).entrySet()) {
                String key = String.valueOf(e.getKey().partition());
                if (e.getValue() == null) {
                    committed.putNull(key);
                } else {
                    committed.putObject(key).put("offset", e.getValue().offset()).put("metadata", e.getValue().metadata());
                }
            }

            // pause the first partition: polls return nothing from it until resume.
            c.seekToBeginning(tps);
            TopicPartition paused = tps.get(0);
            c.pause(List.of(paused));
            out.put("paused", c.paused().size());
            int fromPaused = 0;
            int fromOthers = 0;
            long until = System.currentTimeMillis() + cmd.path("pause_ms").asLong(1500);
            while (System.currentTimeMillis() < until) {
                for (ConsumerRecord<byte[], byte[]> m : c.poll(Duration.ofMillis(200))) {
                    if (m.partition() == paused.partition()) {
                        fromPaused++;
                    } else {
                        fromOthers++;
                    }
                }
            }
            out.put("polled_from_paused", fromPaused);
            out.put("polled_from_others", fromOthers);
            c.resume(List.of(paused));
            long resumedFirst = -1;
            deadline = System.currentTimeMillis() + 30_000;
            while (resumedFirst < 0 && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> m : c.poll(Duration.ofMillis(200))) {
                    if (m.partition() == paused.partition()) {
                        resumedFirst = m.offset();
                        break;
                    }
                }
            }
            out.put("first_after_resume", resumedFirst);
        }
        return out;
    }
}
