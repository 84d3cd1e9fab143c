"""Config answers that the differential suite showed differing from Apache
Kafka 4.1, seen through stock clients (confluent-kafka, kafka-python)."""

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic, ResourceType
from kafka import KafkaAdminClient
from kafka.admin import NewTopic as KpNewTopic
from kafka.errors import InvalidConfigurationError
import pytest


def test_configs_kafka_4_removed_are_refused(broker, topic_name):
    """Kafka 4.0 removed message.downconversion.enable and
    message.timestamp.difference.max.ms: creating a topic with them fails."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for key, value in (("message.downconversion.enable", "false"),
                       ("message.timestamp.difference.max.ms", "1000")):
        t = topic_name(key.split(".")[1])
        futures = admin.create_topics([NewTopic(t, 1, 1, config={key: value})])
        with pytest.raises(KafkaException) as e:
            futures[t].result(timeout=30)
        assert e.value.args[0].name() == "INVALID_CONFIG"
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        with pytest.raises(InvalidConfigurationError):
            kp.create_topics([KpNewTopic(topic_name("kp"), 1, 1,
                                         topic_configs={"message.downconversion.enable": "true"})])
    finally:
        kp.close()


def test_topic_synonyms_start_at_the_primary_broker_key(broker_factory, topic_name):
    """As Kafka 4.1 lists them: segment.ms on a broker with log.roll.ms set
    shows the static log.roll.ms, then log.roll.hours' default; retention.ms
    on a broker with only log.retention.hours set shows no synonym."""
    b = broker_factory({"log.roll.ms": "3600000", "log.retention.hours": "48"})
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    t = topic_name()
    admin.create_topics([NewTopic(t, 1, 1)])[t].result(timeout=30)
    res = ConfigResource(ResourceType.TOPIC, t)
    configs = admin.describe_configs([res])[res].result(timeout=30)
    seg = configs["segment.ms"]
    assert (seg.value, seg.source) == ("3600000", ConfigSource.STATIC_BROKER_CONFIG.value)
    assert [(s.name, s.value, s.source) for s in seg.synonyms.values()] == [
        ("log.roll.ms", "3600000", ConfigSource.STATIC_BROKER_CONFIG.value),
        ("log.roll.hours", "168", ConfigSource.DEFAULT_CONFIG.value),
    ]
    ret = configs["retention.ms"]
    assert ret.value == str(48 * 3600 * 1000)
    assert ret.source == ConfigSource.DEFAULT_CONFIG.value
    assert ret.synonyms == {}
