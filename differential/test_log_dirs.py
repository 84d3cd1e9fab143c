"""DescribeLogDirs: the same writes give the same partition sizes on Kafka
and Runnel (both store the produced batches byte for byte); dir paths and
file system figures are each broker's own, so only their shape is kept."""

from target import build_batch


def test_describe_log_dirs_sizes(differential):
    def observe(t):
        topic = t.name("ld")
        t.create_topic(topic, partitions=2)
        t.produce_ok(topic, 0, build_batch([(None, b"x%d" % i, t.ts(1000 + i)) for i in range(10)]))
        t.produce_ok(topic, 1, build_batch([(b"k", b"y" * 500, t.ts(2000))]))
        out = {}
        for version in (1, 4):
            r = t.call("DescribeLogDirs", version, {"Topics": [{"Topic": topic, "Partitions": [0, 1, 7]}]})
            for d in r["Results"]:
                d["LogDir"] = "<dir>"
                # Kafka lists partitions in hash-map order: the order means nothing.
                for topic_result in d["Topics"]:
                    topic_result["Partitions"].sort(key=lambda p: p["PartitionIndex"])
                for key in ("TotalBytes", "UsableBytes"):
                    if key in d:
                        d[key] = "<positive>" if d[key] > 0 else d[key]
            out[f"v{version}"] = r
        return out

    differential(observe)
