"""DescribeLogDirs: the Java Admin's describeLogDirs and describeReplicaLogDirs
(and kafka-log-dirs, in test_kafka_tools.py) see every partition in the log
dir that holds it, with a size equal to its segment files on disk, and the
file system's total and usable bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clients import ck_create_topic, ck_produce, make_records
from registry import DRIVER_CLIENTS, covers

JAVA = [c for c in DRIVER_CLIENTS if c.stack == "java"]
java_clients = pytest.mark.parametrize("client", JAVA, ids=[c.name for c in JAVA])


def segment_bytes(partition_dir: Path) -> int:
    """What Kafka calls the log's size: the bytes of its .log segment files."""
    return sum(f.stat().st_size for f in partition_dir.glob("*.log"))


def on_disk(dirs: list[Path], topic: str) -> dict[str, tuple[str, int]]:
    """"topic-p" -> (the log dir holding it, its segment bytes)."""
    out = {}
    for d in dirs:
        for pd in d.glob(f"{topic}-*"):
            out[pd.name] = (str(d), segment_bytes(pd))
    return out


@java_clients
@covers("admin-topics")
def test_java_describe_log_dirs_sizes_match_the_files(broker_factory, tmp_path, topic_name, client):
    dirs = [tmp_path / "dir-a", tmp_path / "dir-b"]
    b = broker_factory({"log.dirs": ",".join(str(d) for d in dirs)})
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=4)
    ck_produce(b.bootstrap, topic, make_records(200, 4, seed="logdirs", value_size=300))
    files = on_disk(dirs, topic)
    assert len(files) == 4 and all(size > 0 for _, size in files.values()), files
    assert len({d for d, _ in files.values()}) == 2, f"partitions not spread over both dirs: {files}"

    [r] = client.call("admin", bootstrap=b.bootstrap, calls=[{"call": "describeLogDirs", "broker": 1}])
    assert r["ok"], r
    got_dirs = r["result"]["1"]
    assert sorted(got_dirs) == sorted(str(d) for d in dirs), got_dirs
    seen = {}
    for path, d in got_dirs.items():
        assert d["error"] is None, d
        st = os.statvfs(path)
        assert d["total_bytes"] == st.f_blocks * st.f_frsize, d
        # Usable space moves with every other writer on the disk: close, not equal.
        assert abs(d["usable_bytes"] - st.f_bavail * st.f_frsize) < 256 * 1024 * 1024, d
        for tp, info in d["replicas"].items():
            assert info["offset_lag"] == 0 and not info["future"], info
            if tp.startswith(f"{topic}-"):
                seen[tp] = (path, info["size"])
    assert seen == files

    [rr] = client.call("admin", bootstrap=b.bootstrap, calls=[{"call": "describeReplicaLogDirs", "topic": topic}])
    assert rr["ok"], rr
