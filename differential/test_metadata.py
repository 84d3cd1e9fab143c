"""The metadata shape: brokers, controller id, cluster id format, topic ids,
authorized operations, auto-creation and invalid names."""

import pytest

from compare import keyed


def norm_metadata(t, r):
    n = t.norm
    r["ClusterId"] = n.cluster_id(r["ClusterId"])
    for b in r["Brokers"]:
        b["Port"] = n.port(b["Port"], t.port)
    for topic in r["Topics"]:
        # Partition order in a Metadata answer is unspecified: match by index.
        topic["Partitions"] = keyed(topic["Partitions"], "PartitionIndex")
        if "TopicId" in topic:
            topic["TopicId"] = n.uuid("topic-id", topic["TopicId"])
        if topic.get("ErrorMessage") is not None:
            topic["ErrorMessage"] = "<message>"
    return r


@pytest.mark.smoke
def test_metadata_shape(differential):
    def observe(t):
        name = t.name("md")
        t.create_topic(name, partitions=3)
        r = t.call("Metadata", 12, {"Topics": [{"Name": name}, {"Name": t.name("md-unknown")}],
                                    "AllowAutoTopicCreation": False,
                                    "IncludeTopicAuthorizedOperations": True})
        return norm_metadata(t, r)

    differential(observe)


def test_metadata_cluster_authorized_operations(differential):
    def observe(t):
        r = t.call("Metadata", 10, {"Topics": [], "AllowAutoTopicCreation": False,
                                    "IncludeClusterAuthorizedOperations": True,
                                    "IncludeTopicAuthorizedOperations": False})
        return norm_metadata(t, r)

    differential(observe)


def test_metadata_auto_create_and_bad_names(differential):
    def observe(t):
        auto = t.name("auto")
        out = {}
        r = t.call("Metadata", 12, {"Topics": [{"Name": auto}], "AllowAutoTopicCreation": True})
        out["first"] = norm_metadata(t, r)["Topics"]
        t.wait_leaders(auto, 1)
        r = t.call("Metadata", 12, {"Topics": [{"Name": auto}], "AllowAutoTopicCreation": True})
        out["after"] = norm_metadata(t, r)["Topics"]
        for label, bad in (("slash", "bad/name"), ("dotdot", ".."), ("long", "x" * 250), ("space", "a b")):
            r = t.call("Metadata", 12, {"Topics": [{"Name": bad}], "AllowAutoTopicCreation": True})
            out[label] = norm_metadata(t, r)["Topics"]
        r = t.call("Metadata", 4, {"Topics": [{"Name": t.name("no-auto")}], "AllowAutoTopicCreation": False})
        out["no_auto_v4"] = norm_metadata(t, r)["Topics"]
        return out

    differential(observe)


def test_describe_cluster(differential):
    def observe(t):
        r = t.call("DescribeCluster", 1, {"IncludeClusterAuthorizedOperations": True, "EndpointType": 1})
        r["ClusterId"] = t.norm.cluster_id(r["ClusterId"])
        for b in r["Brokers"]:
            b["Port"] = t.norm.port(b["Port"], t.port)
        return r

    differential(observe)


def test_describe_topic_partitions(differential):
    def observe(t):
        name = t.name("dtp")
        t.create_topic(name, partitions=2)
        r = t.call("DescribeTopicPartitions", 0, {"Topics": [{"Name": name}, {"Name": t.name("dtp-none")}],
                                                   "ResponsePartitionLimit": 1})
        for topic in r["Topics"]:
            topic["TopicId"] = t.norm.uuid("topic-id", topic["TopicId"])
        if r["NextCursor"] is not None:
            r["NextCursor"]["TopicName"] = r["NextCursor"]["TopicName"].replace(t.suffix, "<suffix>")
        return r

    differential(observe)
