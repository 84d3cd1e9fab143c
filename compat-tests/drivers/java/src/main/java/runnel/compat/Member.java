package runnel.compat;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;

/**
 * One consumer-group member (the output format of compat-tests/group_member.py): each record
 * is committed synchronously and only then written as "partition offset"; assignments are
 * written as "assigned p,p,..." from the rebalance listener; SIGTERM closes the consumer (it
 * leaves the group) and writes "closed". A record whose commit failed is sought back to, so
 * whoever owns the partition next consumes it.
 */
final class Member {
    private Member() {}

    static void run(JsonNode args) throws IOException, InterruptedException {
        Properties p = Driver.props(args, Driver.consumerDefaults());
        p.put("group.id", args.path("group").asText());
        String topic = args.path("topic").asText();
        PrintStream out = new PrintStream(new FileOutputStream(args.path("out").asText(), true), true, StandardCharsets.UTF_8);
        out.println("started");
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p);
        TreeSet<Integer> owned = new TreeSet<>();
        CountDownLatch done = new CountDownLatch(1);
        Thread main = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            c.wakeup();
            try {
                done.await();
            } catch (InterruptedException e) {
                main.interrupt();
            }
        }));
        c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            private void write() {
                out.println("assigned " + owned.stream().map(String::valueOf).collect(Collectors.joining(",")));
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                partitions.forEach(tp -> owned.remove(tp.partition()));
                write();
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                partitions.forEach(tp -> owned.add(tp.partition()));
                write();
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                onPartitionsRevoked(partitions);
            }
        });
        try {
            while (true) {
                for (ConsumerRecord<byte[], byte[]> m : c.poll(Duration.ofMillis(200))) {
                    TopicPartition tp = new TopicPartition(m.topic(), m.partition());
                    try {
                        c.commitSync(Map.of(tp, new OffsetAndMetadata(m.offset() + 1)));
                    } catch (WakeupException e) {
                        throw e;
                    } catch (KafkaException e) {
                        try {
                            c.seek(tp, m.offset());
                        } catch (IllegalStateException notOurs) {
                            // the partition went to another member
                        }
                        break;
                    }
                    out.println(m.partition() + " " + m.offset());
                }
            }
        } catch (WakeupException e) {
            // SIGTERM: leave the group
        } finally {
            c.close();
            out.println("closed");
            out.close();
            done.countDown();
        }
    }
}
