"""DescribeQuorum (KIP-595, KIP-853 fields in v2): the metadata quorum of a
combined node, as `kafka-metadata-quorum describe` and the Java admin's
describeMetadataQuorum read it."""

import pytest


def observe_describe_quorum(t):
    r = t.call("DescribeQuorum", 2, {"Topics": [
        {"TopicName": "__cluster_metadata", "Partitions": [{"PartitionIndex": 0}]}]})
    for topic in r["Topics"]:
        for p in topic["Partitions"]:
            # How many records each broker wrote, and when.
            p["HighWatermark"] = "<positive>" if p["HighWatermark"] > 0 else p["HighWatermark"]
            for replica in p["CurrentVoters"] + p["Observers"]:
                for key in ("LogEndOffset",):
                    replica[key] = "<positive>" if replica[key] > 0 else replica[key]
                for key in ("LastFetchTimestamp", "LastCaughtUpTimestamp"):
                    replica[key] = "<set>" if replica[key] > 0 else replica[key]
                zero = "AAAAAAAAAAAAAAAAAAAAAA"
                if replica["ReplicaDirectoryId"] != zero:
                    replica["ReplicaDirectoryId"] = "<directory id>"
    for node in r["Nodes"]:
        for listener in node["Listeners"]:
            listener["Port"] = "<port>" if listener["Port"] > 0 else listener["Port"]
    return r


@pytest.mark.smoke
def test_describe_quorum(differential):
    differential(observe_describe_quorum)
