"""CreateTopics, DeleteTopics and CreatePartitions: the error codes for the
same bad inputs, and what a successful creation answers (configs included)."""

import pytest

from compare import keyed


def msg(m):
    # The wording of a message is each broker's own; whether there is one is compared.
    return None if m is None else "<message>"


def norm_created(t, topic):
    topic["TopicId"] = t.norm.uuid("topic-id", topic["TopicId"])
    topic["Configs"] = keyed(topic["Configs"], "Name")
    topic["ErrorMessage"] = msg(topic["ErrorMessage"])
    return topic


@pytest.mark.smoke
def test_create_topics_errors(differential):
    def observe(t):
        existing = t.name("exists")
        t.create_topic(existing)
        cases = {
            "empty_name": {"Name": ""},
            "dot": {"Name": "."},
            "dotdot": {"Name": ".."},
            "slash": {"Name": "a/b"},
            "space": {"Name": "a b"},
            "too_long": {"Name": "x" * 250},
            "max_len": {"Name": "y" * 249},
            "zero_partitions": {"Name": t.name("p0"), "NumPartitions": 0},
            "minus2_partitions": {"Name": t.name("pm2"), "NumPartitions": -2},
            "zero_rf": {"Name": t.name("rf0"), "ReplicationFactor": 0},
            "rf_above_brokers": {"Name": t.name("rf2"), "ReplicationFactor": 2},
            "minus2_rf": {"Name": t.name("rfm2"), "ReplicationFactor": -2},
            "default_both": {"Name": t.name("defaults"), "NumPartitions": -1, "ReplicationFactor": -1},
            "exists": {"Name": existing},
            "unknown_config": {"Name": t.name("cfg1"), "Configs": [{"Name": "no.such.config", "Value": "1"}]},
            "bad_config_value": {"Name": t.name("cfg2"), "Configs": [{"Name": "retention.ms", "Value": "abc"}]},
            "bad_enum_value": {"Name": t.name("cfg3"), "Configs": [{"Name": "cleanup.policy", "Value": "bogus"}]},
            "null_config_value": {"Name": t.name("cfg4"), "Configs": [{"Name": "retention.ms", "Value": None}]},
            "broker_only_config": {"Name": t.name("cfg5"), "Configs": [{"Name": "log.retention.ms", "Value": "1"}]},
            "bad_assignment_broker": {"Name": t.name("asg1"), "NumPartitions": -1, "ReplicationFactor": -1,
                                      "Assignments": [{"PartitionIndex": 0, "BrokerIds": [7]}]},
            "assignment_with_counts": {"Name": t.name("asg2"), "NumPartitions": 1, "ReplicationFactor": 1,
                                       "Assignments": [{"PartitionIndex": 0, "BrokerIds": [1]}]},
            "assignment_gap": {"Name": t.name("asg3"), "NumPartitions": -1, "ReplicationFactor": -1,
                               "Assignments": [{"PartitionIndex": 1, "BrokerIds": [1]}]},
            "internal_name": {"Name": "__consumer_offsets"},
        }
        out = {}
        for label, spec in cases.items():
            topic = {"NumPartitions": 1, "ReplicationFactor": 1, "Assignments": [], "Configs": [], **spec}
            r = t.call("CreateTopics", 7, {"Topics": [topic], "TimeoutMs": 30000, "ValidateOnly": True})
            got = r["Topics"][0]
            out[label] = {"ErrorCode": got["ErrorCode"], "ErrorMessage": msg(got["ErrorMessage"]),
                          "NumPartitions": got["NumPartitions"], "ReplicationFactor": got["ReplicationFactor"]}
        dup = t.name("dup")
        r = t.call("CreateTopics", 7, {"Topics": [{"Name": dup, "NumPartitions": 1, "ReplicationFactor": 1},
                                                  {"Name": dup, "NumPartitions": 1, "ReplicationFactor": 1}],
                                       "TimeoutMs": 30000})
        out["duplicate_in_request"] = [(x["ErrorCode"], msg(x["ErrorMessage"])) for x in r["Topics"]]
        return out

    differential(observe)


def test_create_topic_answer(differential):
    """A real creation at v7: id, counts and every config with source and flags."""
    def observe(t):
        name = t.name("answer")
        r = t.call("CreateTopics", 7, {"Topics": [{"Name": name, "NumPartitions": 2, "ReplicationFactor": 1,
                                                   "Configs": [{"Name": "retention.ms", "Value": "3600000"}]}],
                                       "TimeoutMs": 30000})
        topic = norm_created(t, r["Topics"][0])
        t.wait_leaders(name, 2)
        again = t.call("CreateTopics", 7, {"Topics": [{"Name": name, "NumPartitions": 2, "ReplicationFactor": 1}],
                                           "TimeoutMs": 30000})
        v4 = t.call("CreateTopics", 4, {"Topics": [{"Name": t.name("v4"), "NumPartitions": 1,
                                                    "ReplicationFactor": 1}], "TimeoutMs": 30000})
        return {"created": topic, "again": norm_created(t, again["Topics"][0]),
                "v4": [(x["ErrorCode"], msg(x["ErrorMessage"])) for x in v4["Topics"]]}

    differential(observe)


def test_delete_topics_errors(differential):
    def observe(t):
        name = t.name("del")
        topic_id = t.create_topic(name)
        out = {}
        r = t.call("DeleteTopics", 6, {"Topics": [{"Name": t.name("del-unknown"), "TopicId": "AAAAAAAAAAAAAAAAAAAAAA"},
                                                  {"Name": None, "TopicId": "AAAAAAAAAAAAAAAAAAAAAQ"}],
                                       "TimeoutMs": 30000})
        # Kafka's answer order is not the request's: key entries by name or id.
        out["unknown"] = {f"{(x['Name'] or '').replace(t.suffix, '<suffix>')}/{x['TopicId']}":
                          (x["ErrorCode"], msg(x["ErrorMessage"])) for x in r["Responses"]}
        r = t.call("DeleteTopics", 6, {"Topics": [{"Name": None, "TopicId": topic_id}], "TimeoutMs": 30000})
        out["by_id"] = [(x["Name"] == name, x["ErrorCode"], msg(x["ErrorMessage"])) for x in r["Responses"]]
        r = t.call("DeleteTopics", 6, {"Topics": [{"Name": "__consumer_offsets",
                                                   "TopicId": "AAAAAAAAAAAAAAAAAAAAAA"}], "TimeoutMs": 30000})
        out["internal"] = [(x["ErrorCode"], msg(x["ErrorMessage"])) for x in r["Responses"]]
        r = t.call("DeleteTopics", 6, {"Topics": [{"Name": "bad/name", "TopicId": "AAAAAAAAAAAAAAAAAAAAAA"}],
                                       "TimeoutMs": 30000})
        out["invalid_name"] = [(x["ErrorCode"], msg(x["ErrorMessage"])) for x in r["Responses"]]
        r = t.call("DeleteTopics", 4, {"TopicNames": [t.name("del-v4")], "TimeoutMs": 30000})
        out["v4_unknown"] = [x["ErrorCode"] for x in r["Responses"]]
        return out

    differential(observe)


def test_create_partitions_errors(differential):
    def observe(t):
        name = t.name("cp")
        t.create_topic(name, partitions=2)
        cases = {
            "decrease": {"Name": name, "Count": 1, "Assignments": None},
            "same": {"Name": name, "Count": 2, "Assignments": None},
            "unknown": {"Name": t.name("cp-unknown"), "Count": 3, "Assignments": None},
            "bad_broker": {"Name": name, "Count": 3, "Assignments": [{"BrokerIds": [9]}]},
            "wrong_assignment_count": {"Name": name, "Count": 4, "Assignments": [{"BrokerIds": [1]}]},
            "increase_validate": {"Name": name, "Count": 5, "Assignments": None},
        }
        out = {}
        for label, topic in cases.items():
            r = t.call("CreatePartitions", 3, {"Topics": [topic], "TimeoutMs": 30000, "ValidateOnly": True})
            x = r["Results"][0]
            out[label] = (x["ErrorCode"], msg(x["ErrorMessage"]))
        r = t.call("CreatePartitions", 3, {"Topics": [{"Name": name, "Count": 3, "Assignments": None}],
                                           "TimeoutMs": 30000, "ValidateOnly": False})
        out["increase"] = [(x["ErrorCode"], msg(x["ErrorMessage"])) for x in r["Results"]]
        out["partitions_after"] = len(t.wait_leaders(name, 3)["Partitions"])
        r = t.call("CreatePartitions", 3, {"Topics": [{"Name": name, "Count": 4, "Assignments": None},
                                                      {"Name": name, "Count": 5, "Assignments": None}],
                                           "TimeoutMs": 30000, "ValidateOnly": True})
        out["duplicate"] = [(x["ErrorCode"], msg(x["ErrorMessage"])) for x in r["Results"]]
        return out

    differential(observe)
