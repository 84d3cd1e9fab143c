package runnel.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.AlterConfigsOptions;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.quota.ClientQuotaFilter;

/**
 * Admin calls by name. A command {"op": "admin", "calls": [{"call": NAME, ...}]} runs each call
 * in turn on one Admin client and answers one entry per call: {"ok": true, "result": ...} or
 * {"ok": false, "error": {"class", "message"}}. Calls Runnel does not serve yet are here too, so
 * a test can show they fail the expected way (UnsupportedVersionException) rather than skip them.
 */
final class AdminOps {
    private AdminOps() {}

    static JsonNode run(JsonNode cmd) {
        Properties p = Driver.props(cmd, Map.of());
        WAIT_S.set(cmd.path("timeout_s").asLong(30));
        ArrayNode out = Driver.JSON.createArrayNode();
        try (Admin admin = Admin.create(p)) {
            for (JsonNode call : cmd.path("calls")) {
                ObjectNode res = out.addObject();
                res.put("call", call.path("call").asText());
                try {
                    res.set("result", call(admin, call));
                    res.put("ok", true);
                } catch (Exception e) {
                    res.put("ok", false);
                    res.set("error", Driver.error(e));
                }
            }
        }
        return out;
    }

    /** Seconds each call's result is waited for: the command's "timeout_s", else 30. */
    private static final ThreadLocal<Long> WAIT_S = ThreadLocal.withInitial(() -> 30L);

    private static <V> V get(org.apache.kafka.common.KafkaFuture<V> f) throws Exception {
        return f.get(WAIT_S.get(), TimeUnit.SECONDS);
    }

    private static List<String> strings(JsonNode n) {
        List<String> out = new ArrayList<>();
        n.forEach(s -> out.add(s.asText()));
        return out;
    }

    private static ConfigResource resource(JsonNode n) {
        ConfigResource.Type type = switch (n.path("type").asText()) {
            case "topic" -> ConfigResource.Type.TOPIC;
            case "broker" -> ConfigResource.Type.BROKER;
            case "group" -> ConfigResource.Type.GROUP;
            default -> throw new IllegalArgumentException("resource type " + n.path("type"));
        };
        return new ConfigResource(type, n.path("name").asText());
    }

    private static Map<TopicPartition, Long> offsets(String topic, JsonNode n) {
        Map<TopicPartition, Long> out = new HashMap<>();
        n.fields().forEachRemaining(e -> out.put(new TopicPartition(topic, Integer.parseInt(e.getKey())), e.getValue().asLong()));
        return out;
    }

    private static ObjectNode node(Node n) {
        ObjectNode o = Driver.JSON.createObjectNode();
        if (n == null) {
            return o.put("id", -1);
        }
        return o.put("id", n.id()).put("host", n.host()).put("port", n.port());
    }

    private static JsonNode call(Admin admin, JsonNode c) throws Exception {
        ObjectNode out = Driver.JSON.createObjectNode();
        String name = c.path("call").asText();
        switch (name) {
            case "createTopics" -> {
                List<NewTopic> topics = new ArrayList<>();
                for (JsonNode t : c.path("topics")) {
                    NewTopic nt = new NewTopic(t.path("name").asText(),
                        t.has("partitions") ? Optional.of(t.path("partitions").asInt()) : Optional.empty(),
                        t.has("rf") ? Optional.of((short) t.path("rf").asInt()) : Optional.empty());
                    Map<String, String> cfg = new HashMap<>();
                    t.path("configs").fields().forEachRemaining(e -> cfg.put(e.getKey(), e.getValue().asText()));
                    topics.add(nt.configs(cfg));
                }
                var r = admin.createTopics(topics, new CreateTopicsOptions().validateOnly(c.path("validate_only").asBoolean()));
                for (NewTopic t : topics) {
                    ObjectNode one = out.putObject(t.name());
                    try {
                        get(r.values().get(t.name()));
                        one.put("ok", true);
                        if (!c.path("validate_only").asBoolean()) {
                            one.put("partitions", get(r.numPartitions(t.name())));
                            one.put("rf", get(r.replicationFactor(t.name())));
                            ObjectNode cfgs = one.putObject("configs");
                            for (ConfigEntry e : get(r.config(t.name())).entries()) {
                                cfgs.put(e.name(), e.value());
                            }
                        }
                    } catch (Exception e) {
                        one.put("ok", false);
                        one.set("error", Driver.error(e));
                    }
                }
            }
            case "listTopics" -> {
                ArrayNode names = out.putArray("names");
                get(admin.listTopics(new ListTopicsOptions().listInternal(c.path("internal").asBoolean()))
                    .names()).stream().sorted().forEach(names::add);
            }
            case "describeTopics" -> {
                Map<String, TopicDescription> d = get(admin.describeTopics(strings(c.path("names"))).allTopicNames());
                for (TopicDescription t : d.values()) {
                    ObjectNode o = out.putObject(t.name());
                    o.put("internal", t.isInternal());
                    o.put("topic_id", t.topicId().toString());
                    ArrayNode parts = o.putArray("partitions");
                    for (TopicPartitionInfo pi : t.partitions()) {
                        ObjectNode po = parts.addObject();
                        po.put("partition", pi.partition());
                        po.put("leader", pi.leader() == null ? -1 : pi.leader().id());
                        po.put("replicas", pi.replicas().size());
                        po.put("isr", pi.isr().size());
                    }
                }
            }
            case "deleteTopics" -> get(admin.deleteTopics(strings(c.path("names"))).all());
            case "createPartitions" -> {
                Map<String, NewPartitions> m = new HashMap<>();
                c.path("counts").fields().forEachRemaining(e -> m.put(e.getKey(), NewPartitions.increaseTo(e.getValue().asInt())));
                get(admin.createPartitions(m).all());
            }
            case "describeCluster" -> {
                DescribeClusterResult r = admin.describeCluster();
                out.put("cluster_id", get(r.clusterId()));
                out.set("controller", node(get(r.controller())));
                ArrayNode nodes = out.putArray("nodes");
                get(r.nodes()).forEach(n -> nodes.add(node(n)));
            }
            case "describeConfigs" -> {
                List<ConfigResource> res = new ArrayList<>();
                c.path("resources").forEach(n -> res.add(resource(n)));
                Map<ConfigResource, Config> d = get(admin.describeConfigs(res,
                    new DescribeConfigsOptions().includeSynonyms(c.path("synonyms").asBoolean())).all());
                for (ConfigResource r : res) {
                    ObjectNode o = out.putObject(r.name());
                    for (ConfigEntry e : d.get(r).entries()) {
                        o.putObject(e.name()).put("value", e.value()).put("source", e.source().name())
                            .put("read_only", e.isReadOnly()).put("sensitive", e.isSensitive())
                            .put("synonyms", e.synonyms().size());
                    }
                }
            }
            case "incrementalAlterConfigs" -> {
                Map<ConfigResource, Collection<AlterConfigOp>> m = new HashMap<>();
                for (JsonNode r : c.path("resources")) {
                    List<AlterConfigOp> ops = new ArrayList<>();
                    for (JsonNode op : r.path("ops")) {
                        ops.add(new AlterConfigOp(new ConfigEntry(op.path("name").asText(), op.path("value").asText(null)),
                            AlterConfigOp.OpType.valueOf(op.path("op").asText("SET"))));
                    }
                    m.put(resource(r), ops);
                }
                get(admin.incrementalAlterConfigs(m, new AlterConfigsOptions().validateOnly(c.path("validate_only").asBoolean())).all());
            }
            case "deleteRecords" -> {
                Map<TopicPartition, RecordsToDelete> m = new HashMap<>();
                offsets(c.path("topic").asText(), c.path("offsets")).forEach((tp, o) -> m.put(tp, RecordsToDelete.beforeOffset(o)));
                var r = admin.deleteRecords(m).lowWatermarks();
                for (var e : r.entrySet()) {
                    out.put(String.valueOf(e.getKey().partition()), get(e.getValue()).lowWatermark());
                }
            }
            case "listOffsets" -> {
                String spec = c.path("spec").asText();
                OffsetSpec os = switch (spec) {
                    case "earliest" -> OffsetSpec.earliest();
                    case "latest" -> OffsetSpec.latest();
                    case "max_timestamp" -> OffsetSpec.maxTimestamp();
                    default -> OffsetSpec.forTimestamp(Long.parseLong(spec));
                };
                Map<TopicPartition, OffsetSpec> m = new HashMap<>();
                for (int i = 0; i < c.path("partition_count").asInt(); i++) {
                    m.put(new TopicPartition(c.path("topic").asText(), i), os);
                }
                Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> r = get(admin.listOffsets(m).all());
                r.forEach((tp, info) -> out.putObject(String.valueOf(tp.partition()))
                    .put("offset", info.offset()).put("timestamp", info.timestamp()));
            }
            case "listGroups" -> {
                Collection<GroupListing> gs = get(admin.listGroups().all());
                for (GroupListing g : gs) {
                    out.putObject(g.groupId())
                        .put("type", g.type().map(Object::toString).orElse(null))
                        .put("protocol", g.protocol())
                        .put("state", g.groupState().map(Object::toString).orElse(null));
                }
            }
            case "listConsumerGroups" -> {
                @SuppressWarnings("deprecation")
                var gs = get(admin.listConsumerGroups().all());
                for (var g : gs) {
                    out.putObject(g.groupId()).put("simple", g.isSimpleConsumerGroup());
                }
            }
            case "describeConsumerGroups" -> {
                Map<String, ConsumerGroupDescription> d = get(admin.describeConsumerGroups(strings(c.path("groups"))).all());
                for (ConsumerGroupDescription g : d.values()) {
                    ObjectNode o = out.putObject(g.groupId());
                    o.put("state", g.groupState().toString());
                    o.put("type", g.type().toString());
                    o.put("assignor", g.partitionAssignor());
                    o.put("coordinator", g.coordinator() == null ? -1 : g.coordinator().id());
                    ArrayNode ms = o.putArray("members");
                    for (MemberDescription m : g.members()) {
                        ObjectNode mo = ms.addObject();
                        mo.put("client_id", m.clientId());
                        mo.put("instance_id", m.groupInstanceId().orElse(null));
                        ArrayNode parts = mo.putArray("partitions");
                        m.assignment().topicPartitions().stream().map(TopicPartition::partition).sorted().forEach(parts::add);
                    }
                }
            }
            case "describeClassicGroups" -> {
                var d = get(admin.describeClassicGroups(strings(c.path("groups"))).all());
                for (var g : d.values()) {
                    out.putObject(g.groupId()).put("state", g.state().toString()).put("protocol", g.protocol())
                        .put("members", g.members().size());
                }
            }
            case "deleteConsumerGroups" -> get(admin.deleteConsumerGroups(strings(c.path("groups"))).all());
            case "listConsumerGroupOffsets" -> {
                Map<TopicPartition, OffsetAndMetadata> m =
                    get(admin.listConsumerGroupOffsets(c.path("group").asText()).partitionsToOffsetAndMetadata());
                m.forEach((tp, om) -> out.putObject(tp.topic() + ":" + tp.partition())
                    .put("offset", om == null ? -1 : om.offset()).put("metadata", om == null ? null : om.metadata()));
            }
            case "alterConsumerGroupOffsets" -> {
                Map<TopicPartition, OffsetAndMetadata> m = new HashMap<>();
                offsets(c.path("topic").asText(), c.path("offsets")).forEach((tp, o) -> m.put(tp, new OffsetAndMetadata(o)));
                get(admin.alterConsumerGroupOffsets(c.path("group").asText(), m).all());
            }
            case "deleteConsumerGroupOffsets" -> {
                Set<TopicPartition> s = new java.util.HashSet<>();
                c.path("partitions").forEach(n -> s.add(new TopicPartition(c.path("topic").asText(), n.asInt())));
                get(admin.deleteConsumerGroupOffsets(c.path("group").asText(), s).all());
            }
            case "describeFeatures" -> {
                FeatureMetadata f = get(admin.describeFeatures().featureMetadata());
                ObjectNode fin = out.putObject("finalized");
                f.finalizedFeatures().forEach((k, v) -> fin.putObject(k).put("min", v.minVersionLevel()).put("max", v.maxVersionLevel()));
                ObjectNode sup = out.putObject("supported");
                f.supportedFeatures().forEach((k, v) -> sup.putObject(k).put("min", v.minVersion()).put("max", v.maxVersion()));
            }
            // Calls whose API Runnel does not serve yet: trivial arguments, the test checks how they fail.
            case "describeLogDirs" -> {
                // {broker: {dir: {error, total_bytes, usable_bytes, replicas: {"topic-p": {size, offset_lag, future}}}}}
                var all = get(admin.describeLogDirs(List.of(c.path("broker").asInt(1))).allDescriptions());
                all.forEach((brokerId, dirs) -> {
                    ObjectNode b = out.putObject(String.valueOf(brokerId));
                    dirs.forEach((path, d) -> {
                        ObjectNode o = b.putObject(path);
                        o.put("error", d.error() == null ? null : d.error().getClass().getSimpleName());
                        o.put("total_bytes", d.totalBytes().orElse(-1L));
                        o.put("usable_bytes", d.usableBytes().orElse(-1L));
                        ObjectNode reps = o.putObject("replicas");
                        d.replicaInfos().forEach((tp, info) -> reps.putObject(tp.toString())
                            .put("size", info.size()).put("offset_lag", info.offsetLag())
                            .put("future", info.isFuture()));
                    });
                });
            }
            case "describeReplicaLogDirs" -> get(admin.describeReplicaLogDirs(List.of(
                new org.apache.kafka.common.TopicPartitionReplica(c.path("topic").asText(), 0, 1))).all());
            case "describeMetadataQuorum" -> {
                var q = get(admin.describeMetadataQuorum().quorumInfo());
                out.put("leader_id", q.leaderId()).put("leader_epoch", q.leaderEpoch())
                    .put("high_watermark", q.highWatermark()).put("observers", q.observers().size());
                ArrayNode voters = out.putArray("voters");
                for (var v : q.voters()) {
                    voters.addObject().put("id", v.replicaId()).put("log_end_offset", v.logEndOffset())
                        .put("directory_id", v.replicaDirectoryId().toString())
                        .put("last_caught_up_ms", v.lastCaughtUpTimestamp().orElse(-1));
                }
            }
            case "describeAcls" -> get(admin.describeAcls(AclBindingFilter.ANY).values());
            case "describeClientQuotas" -> get(admin.describeClientQuotas(ClientQuotaFilter.all()).entities());
            case "describeUserScramCredentials" -> get(admin.describeUserScramCredentials().all());
            case "describeDelegationToken" -> get(admin.describeDelegationToken().delegationTokens());
            case "listTransactions" -> get(admin.listTransactions().all());
            case "describeTransactions" -> get(admin.describeTransactions(List.of("compat-txn")).all());
            case "describeProducers" -> get(admin.describeProducers(List.of(new TopicPartition(c.path("topic").asText(), 0))).all());
            case "listPartitionReassignments" -> get(admin.listPartitionReassignments().reassignments());
            case "electLeaders" -> get(admin.electLeaders(ElectionType.PREFERRED,
                Set.of(new TopicPartition(c.path("topic").asText(), 0))).all());
            case "describeShareGroups" -> get(admin.describeShareGroups(List.of("compat-share")).all());
            case "describeStreamsGroups" -> get(admin.describeStreamsGroups(List.of("compat-streams")).all());
            case "listConfigResources" -> get(admin.listConfigResources().all());
            default -> throw new IllegalArgumentException("unknown admin call " + name);
        }
        return out;
    }
}
