"""Group state sequences as DescribeGroups and ConsumerGroupDescribe show
them: the classic protocol (eager and cooperative protocol selection,
static members) driven step by step in raw frames, KIP-848's heartbeat, and
the errors for unknown or fenced members and stale generations."""

import re
import struct
import time

import pytest

import kproto
from compare import keyed


def subscription(topics: list[str]) -> bytes:
    """ConsumerProtocolSubscription v0: opaque to the broker, the same bytes on both."""
    out = struct.pack(">hi", 0, len(topics))
    for name in topics:
        out += struct.pack(">h", len(name)) + name.encode()
    return out + struct.pack(">i", -1)


MEMBER_RE = re.compile(r"^(?P<client>.*)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def member(t, value):
    """Classic member ids are `<client id>-<uuid>` in Kafka; the uuid varies."""
    if value in ("", None):
        return value
    m = MEMBER_RE.match(value)
    form = f"client id {m.group('client')!r} + uuid" if m else f"other form {value!r}"
    return f"{t.norm.ident('member', value)}: {form}"


def join_body(group, member_id="", instance=None, protocols=(("range", b"r"),), rebalance_ms=10000):
    return {"GroupId": group, "SessionTimeoutMs": 30000, "RebalanceTimeoutMs": rebalance_ms,
            "MemberId": member_id, "GroupInstanceId": instance, "ProtocolType": "consumer",
            "Protocols": [{"Name": n, "Metadata": m} for n, m in protocols], "Reason": None}


def norm_join(t, r):
    r = dict(r)
    r["MemberId"] = member(t, r["MemberId"])
    r["Leader"] = member(t, r["Leader"])
    r["Members"] = keyed([{**m, "MemberId": member(t, m["MemberId"])} for m in r["Members"]], "MemberId")
    return r


def describe(t, group, version=5):
    t.find_coordinator(group)
    r = t.call("DescribeGroups", version, {"Groups": [group], "IncludeAuthorizedOperations": True})
    g = r["Groups"][0]
    g["GroupId"] = g["GroupId"].replace(t.suffix, "<suffix>")
    g["Members"] = keyed([{**m, "MemberId": member(t, m["MemberId"])} for m in g["Members"]], "MemberId")
    return g


def heartbeat(conn, t, group, generation, member_id, instance=None):
    r = conn.call("Heartbeat", 4, {"GroupId": group, "GenerationId": generation, "MemberId": member_id,
                                   "GroupInstanceId": instance})
    return r["ErrorCode"]


def sync(conn, group, generation, member_id, assignments=(), instance=None):
    return conn.call("SyncGroup", 5, {"GroupId": group, "GenerationId": generation, "MemberId": member_id,
                                      "GroupInstanceId": instance, "ProtocolType": "consumer",
                                      "ProtocolName": "range",
                                      "Assignments": [{"MemberId": m, "Assignment": a} for m, a in assignments]})


@pytest.mark.smoke
def test_classic_group_eager_sequence(differential):
    def observe(t):
        topic = t.name("g-topic")
        t.create_topic(topic, partitions=2)
        group = t.name("eager")
        t.find_coordinator(group)
        meta = subscription([topic])
        seq = {}
        a, b = t.new_conn("client-a"), t.new_conn("client-b")
        with a, b:
            first = a.call("JoinGroup", 9, join_body(group, protocols=(("range", meta),)))
            seq["1_join_unknown"] = norm_join(t, first)
            a_id = first["MemberId"]
            j = a.call("JoinGroup", 9, join_body(group, a_id, protocols=(("range", meta),)))
            seq["2_join"] = norm_join(t, j)
            gen = j["GenerationId"]
            seq["3_describe"] = describe(t, group)
            s = sync(a, group, gen, a_id, [(a_id, b"assign-a")])
            seq["4_sync"] = s
            seq["5_describe"] = describe(t, group)
            seq["6_heartbeat"] = heartbeat(a, t, group, gen, a_id)
            seq["7_heartbeat_unknown_member"] = heartbeat(a, t, group, gen, "nobody")
            seq["8_heartbeat_stale_generation"] = heartbeat(a, t, group, gen - 1, a_id)
            seq["9_sync_stale_generation"] = sync(a, group, gen + 5, a_id)["ErrorCode"]
            # A second member: B's join waits until A rejoins.
            fb = b.call("JoinGroup", 9, join_body(group, protocols=(("range", meta),)))
            b_id = fb["MemberId"]
            cid_b = b.send("JoinGroup", 9, join_body(group, b_id, protocols=(("range", meta),)))
            seq["10_heartbeat_during_rebalance"] = t.wait_for(
                "rebalance", lambda: heartbeat(a, t, group, gen, a_id) or None, timeout=10)
            seq["11_describe_preparing"] = describe(t, group)
            cid_a = a.send("JoinGroup", 9, join_body(group, a_id, protocols=(("range", meta),)))
            ja, jb = a.receive("JoinGroup", 9, cid_a), b.receive("JoinGroup", 9, cid_b)
            seq["12_join_a"], seq["12_join_b"] = norm_join(t, ja), norm_join(t, jb)
            gen2 = ja["GenerationId"]
            leader, follower = (a, b) if ja["Leader"] == a_id else (b, a)
            leader_id = ja["Leader"]
            follower_id = b_id if leader_id == a_id else a_id
            cid_f = follower.send("SyncGroup", 5, {"GroupId": group, "GenerationId": gen2, "MemberId": follower_id,
                                                   "GroupInstanceId": None, "ProtocolType": "consumer",
                                                   "ProtocolName": "range", "Assignments": []})
            seq["13_sync_leader"] = sync(leader, group, gen2, leader_id,
                                         [(a_id, b"assign-a2"), (b_id, b"assign-b2")])
            seq["13_sync_follower"] = follower.receive("SyncGroup", 5, cid_f)
            seq["14_describe_two"] = describe(t, group)
            r = b.call("LeaveGroup", 5, {"GroupId": group, "Members": [
                {"MemberId": b_id, "GroupInstanceId": None, "Reason": "differential"},
                {"MemberId": "nobody", "GroupInstanceId": None, "Reason": None}]})
            r["Members"] = [{**m, "MemberId": member(t, m["MemberId"])} for m in r["Members"]]
            seq["15_leave"] = r
            seq["16_describe_after_leave"] = describe(t, group)
            j3 = a.call("JoinGroup", 9, join_body(group, a_id, protocols=(("range", meta),)))
            seq["17_rejoin_alone"] = norm_join(t, j3)
            seq["18_describe_unknown_group"] = describe(t, t.name("no-group"))
            seq["19_describe_v0"] = describe(t, group, version=0)
        return seq

    differential(observe)


def test_classic_group_protocol_selection(differential):
    """Cooperative and eager members: the broker picks the protocol every
    member supports, first by the members' preference order."""
    def observe(t):
        group = t.name("coop")
        t.find_coordinator(group)
        a, b = t.new_conn("client-a"), t.new_conn("client-b")
        out = {}
        with a, b:
            pa = (("cooperative-sticky", b"c"), ("range", b"r"))
            pb = (("range", b"r"),)
            a_id = a.call("JoinGroup", 9, join_body(group, protocols=pa))["MemberId"]
            b_id = b.call("JoinGroup", 9, join_body(group, protocols=pb))["MemberId"]
            # A's join is in the group before B's is sent, so A leads on both brokers.
            ca = a.send("JoinGroup", 9, join_body(group, a_id, protocols=pa))
            t.wait_for("A in the group", lambda: len(describe(t, group)["Members"]) == 1, timeout=10, period=0.02)
            cb = b.send("JoinGroup", 9, join_body(group, b_id, protocols=pb))
            ja, jb = a.receive("JoinGroup", 9, ca), b.receive("JoinGroup", 9, cb)
            out["join_a"], out["join_b"] = norm_join(t, ja), norm_join(t, jb)
            out["describe"] = describe(t, group)
            wrong = t.new_conn("client-c")
            with wrong:
                r = wrong.call("JoinGroup", 9, join_body(group, protocols=(("roundrobin", b"x"),)))
                out["inconsistent_protocol"] = r["ErrorCode"]
                r = wrong.call("JoinGroup", 9, {**join_body(group), "ProtocolType": "connect"})
                out["other_protocol_type"] = r["ErrorCode"]
                r = wrong.call("JoinGroup", 9, join_body(""))
                out["empty_group_id"] = r["ErrorCode"]
                r = wrong.call("JoinGroup", 9, {**join_body(t.name("st")), "SessionTimeoutMs": 1})
                out["session_timeout_too_small"] = r["ErrorCode"]
                r = wrong.call("JoinGroup", 3, {**join_body(t.name("v3")), "MemberId": ""})
                out["v3_unknown_member_joins_directly"] = {"ErrorCode": r["ErrorCode"],
                                                           "GenerationId": r["GenerationId"]}
        return out

    differential(observe)


def test_classic_static_members(differential):
    def observe(t):
        group = t.name("static")
        t.find_coordinator(group)
        topic = t.name("static-topic")
        t.create_topic(topic)
        out = {}
        a, a2 = t.new_conn("client-a"), t.new_conn("client-a")
        with a, a2:
            j = a.call("JoinGroup", 9, join_body(group, instance="inst-a"))
            out["1_join_static"] = norm_join(t, j)
            a_id, gen = j["MemberId"], j["GenerationId"]
            out["2_sync"] = sync(a, group, gen, a_id, [(a_id, b"assign")], instance="inst-a")
            out["3_describe"] = describe(t, group)
            j2 = a2.call("JoinGroup", 9, join_body(group, instance="inst-a"))
            out["4_join_replacement"] = norm_join(t, j2)
            out["5_old_heartbeat"] = heartbeat(a, t, group, gen, a_id, "inst-a")
            out["6_new_heartbeat"] = heartbeat(a2, t, group, j2["GenerationId"], j2["MemberId"], "inst-a")
            out["7_sync_replacement"] = sync(a2, group, j2["GenerationId"], j2["MemberId"], instance="inst-a")
            out["8_describe"] = describe(t, group)
            r = a.call("OffsetCommit", 9, {
                "GroupId": group, "GenerationIdOrMemberEpoch": gen, "MemberId": a_id,
                "GroupInstanceId": "inst-a", "Topics": [{"Name": topic, "Partitions": [
                    {"PartitionIndex": 0, "CommittedOffset": 1, "CommittedLeaderEpoch": -1,
                     "CommittedMetadata": None}]}]})
            out["9_old_commit"] = [p["ErrorCode"] for x in r["Topics"] for p in x["Partitions"]]
            r = a2.call("LeaveGroup", 5, {"GroupId": group, "Members": [
                {"MemberId": "", "GroupInstanceId": "inst-a", "Reason": None},
                {"MemberId": "", "GroupInstanceId": "inst-unknown", "Reason": None}]})
            r["Members"] = [{**m, "MemberId": member(t, m["MemberId"])} for m in r["Members"]]
            out["10_leave_by_instance"] = r
            out["11_describe_empty"] = describe(t, group)
        return out

    differential(observe)


def cg_heartbeat(conn, body, version=1):
    base = {"GroupId": "", "MemberId": "", "MemberEpoch": 0, "InstanceId": None, "RackId": None,
            "RebalanceTimeoutMs": 10000, "SubscribedTopicNames": None, "SubscribedTopicRegex": None,
            "ServerAssignor": None, "TopicPartitions": None}
    return conn.call("ConsumerGroupHeartbeat", version, {**base, **body})


def norm_cg(t, r, ep=lambda e: e):
    r = dict(r)
    r["MemberEpoch"] = ep(r["MemberEpoch"])
    r["ErrorMessage"] = None if r.get("ErrorMessage") is None else "<message>"
    if r.get("Assignment"):
        r["Assignment"] = {"TopicPartitions": keyed(
            [{"TopicId": t.norm.uuid("topic-id", tp["TopicId"]), "Partitions": sorted(tp["Partitions"])}
             for tp in r["Assignment"]["TopicPartitions"]], "TopicId")}
    return r


def cg_describe(t, group, ep=lambda e: e):
    t.find_coordinator(group)
    r = t.call("ConsumerGroupDescribe", 1, {"GroupIds": [group], "IncludeAuthorizedOperations": True})
    g = r["Groups"][0]
    g["GroupId"] = g["GroupId"].replace(t.suffix, "<suffix>")
    g["ErrorMessage"] = None if g["ErrorMessage"] is None else "<message>"
    g["GroupEpoch"], g["AssignmentEpoch"] = ep(g["GroupEpoch"]), ep(g["AssignmentEpoch"])

    def assignment(a):
        return keyed([{"TopicId": t.norm.uuid("topic-id", tp["TopicId"]),
                       "TopicName": tp["TopicName"].replace(t.suffix, "<suffix>"),
                       "Partitions": sorted(tp["Partitions"])} for tp in a["TopicPartitions"]], "TopicId")

    members = []
    for m in g["Members"]:
        m["Assignment"] = assignment(m["Assignment"])
        m["TargetAssignment"] = assignment(m["TargetAssignment"])
        m["SubscribedTopicNames"] = [n.replace(t.suffix, "<suffix>") for n in m["SubscribedTopicNames"]]
        m["MemberEpoch"] = ep(m["MemberEpoch"])
        members.append(m)
    g["Members"] = keyed(members, "MemberId")
    return g


def test_consumer_group_kip848_sequence(differential):
    def observe(t):
        topic = t.name("cg-topic")
        t.create_topic(topic, partitions=2)
        group = t.name("kip848")
        t.find_coordinator(group)
        m1 = kproto.uuid_text(bytes.fromhex(t.suffix * 4))
        m2 = kproto.uuid_text(bytes.fromhex(t.suffix[::-1] * 4))
        out = {}
        c1, c2 = t.new_conn("client-1"), t.new_conn("client-2")
        with c1, c2:
            r = cg_heartbeat(c1, {"GroupId": group, "MemberId": m1, "MemberEpoch": 0,
                                  "SubscribedTopicNames": [topic], "TopicPartitions": []})
            # Kafka's coordinator may learn of the topic created a moment ago
            # one epoch later (its first answer then assigns nothing): heartbeat
            # until partitions are assigned, and count epochs from there, so
            # the sequences compare step by step. The number of heartbeats
            # that took is not compared.
            deadline = time.monotonic() + 15
            while not (r["Assignment"] and any(tp["Partitions"] for tp in r["Assignment"]["TopicPartitions"])):
                if time.monotonic() > deadline:
                    raise AssertionError(f"{t.kind}: no assignment within 15 s: {r}")
                time.sleep(0.1)
                r = cg_heartbeat(c1, {"GroupId": group, "MemberId": m1, "MemberEpoch": r["MemberEpoch"],
                                      "TopicPartitions": []})
            base = r["MemberEpoch"] - 1

            def ep(e):
                return f"first assignment + {e - base - 1}" if e > 0 else e

            out["1_join"] = norm_cg(t, r, ep)
            e1 = r["MemberEpoch"]
            owned = [{"TopicId": tp["TopicId"], "Partitions": tp["Partitions"]}
                     for tp in r["Assignment"]["TopicPartitions"]]
            r = cg_heartbeat(c1, {"GroupId": group, "MemberId": m1, "MemberEpoch": e1, "TopicPartitions": owned})
            out["2_ack"] = norm_cg(t, r, ep)
            out["3_describe"] = cg_describe(t, group, ep)
            r = cg_heartbeat(c2, {"GroupId": group, "MemberId": m2, "MemberEpoch": 0,
                                  "SubscribedTopicNames": [topic], "TopicPartitions": []})
            out["4_second_join"] = norm_cg(t, r, ep)
            r = cg_heartbeat(c1, {"GroupId": group, "MemberId": m1, "MemberEpoch": e1, "TopicPartitions": owned})
            out["5_first_after_second"] = norm_cg(t, r, ep)
            out["6_describe_reconciling"] = cg_describe(t, group, ep)
            out["7_fenced_epoch"] = norm_cg(t, cg_heartbeat(c1, {"GroupId": group, "MemberId": m1,
                                                                 "MemberEpoch": e1 + 7}))
            out["8_unknown_member"] = norm_cg(t, cg_heartbeat(c1, {"GroupId": group, "MemberId": "x" * 22,
                                                                   "MemberEpoch": 3}))
            t.find_coordinator(t.name("assignor"))
            t.find_coordinator(t.name("noid"))
            out["9_bad_assignor"] = norm_cg(t, cg_heartbeat(c1, {
                "GroupId": t.name("assignor"), "MemberId": m1, "MemberEpoch": 0,
                "SubscribedTopicNames": [topic], "TopicPartitions": [], "ServerAssignor": "nope"}))
            out["10_empty_group"] = norm_cg(t, cg_heartbeat(c1, {"GroupId": "", "MemberId": m1, "MemberEpoch": 0,
                                                                 "SubscribedTopicNames": [topic],
                                                                 "TopicPartitions": []}))
            out["11_v1_no_member_id"] = norm_cg(t, cg_heartbeat(c1, {
                "GroupId": t.name("noid"), "MemberId": "", "MemberEpoch": 0,
                "SubscribedTopicNames": [topic], "TopicPartitions": []}))
            r = cg_heartbeat(c2, {"GroupId": group, "MemberId": m2, "MemberEpoch": -1})
            out["12_leave"] = norm_cg(t, r, ep)
            out["13_describe_after_leave"] = cg_describe(t, group, ep)
            out["14_describe_unknown"] = cg_describe(t, t.name("cg-none"))
            out["15_classic_describe_of_consumer_group"] = describe(t, group)
        return out

    differential(observe)


def test_group_offsets_and_admin(differential):
    def observe(t):
        topic = t.name("go-topic")
        t.create_topic(topic, partitions=2)
        group = t.name("offsets")
        t.find_coordinator(group)
        out = {}
        c = t.conn()

        def commit(g, parts, generation=-1, member_id=""):
            if g:
                t.find_coordinator(g)
            r = c.call("OffsetCommit", 9, {"GroupId": g, "GenerationIdOrMemberEpoch": generation,
                                           "MemberId": member_id, "GroupInstanceId": None,
                                           "Topics": [{"Name": n, "Partitions": [
                                               {"PartitionIndex": p, "CommittedOffset": o,
                                                "CommittedLeaderEpoch": -1, "CommittedMetadata": "m"}
                                               for p, o in ps]} for n, ps in parts]})
            return [{"Name": x["Name"].replace(t.suffix, "<suffix>"), "Partitions": x["Partitions"]}
                    for x in r["Topics"]], r["ErrorCode"] if "ErrorCode" in r else None

        def fetch(g, topics=None):
            t.find_coordinator(g)
            r = c.call("OffsetFetch", 9, {"Groups": [{"GroupId": g, "MemberId": None, "MemberEpoch": -1,
                                                      "Topics": topics}], "RequireStable": False})
            grp = r["Groups"][0]
            grp["GroupId"] = grp["GroupId"].replace(t.suffix, "<suffix>")
            for x in grp["Topics"]:
                x["Name"] = x["Name"].replace(t.suffix, "<suffix>")
            return grp

        out["commit_simple"] = commit(group, [(topic, [(0, 5), (1, 7)])])
        out["commit_unknown_topic"] = commit(group, [(t.name("none"), [(0, 1)])])
        out["commit_unknown_partition"] = commit(group, [(topic, [(9, 1)])])
        out["commit_with_generation_no_group"] = commit(t.name("nogroup"), [(topic, [(0, 1)])], 3, "m-1")
        out["commit_empty_group_id"] = commit("", [(topic, [(0, 1)])])
        out["fetch_all"] = fetch(group)
        out["fetch_some"] = fetch(group, [{"Name": topic, "PartitionIndexes": [0, 1, 5]},
                                          {"Name": t.name("none"), "PartitionIndexes": [0]}])
        out["fetch_unknown_group"] = fetch(t.name("nogroup2"))
        r = c.call("OffsetDelete", 0, {"GroupId": group, "Topics": [{"Name": topic, "Partitions": [
            {"PartitionIndex": 0}, {"PartitionIndex": 4}]}]})
        out["offset_delete"] = r
        out["fetch_after_delete"] = fetch(group)
        r = c.call("OffsetDelete", 0, {"GroupId": t.name("nogroup3"), "Topics": []})
        out["offset_delete_unknown_group"] = r["ErrorCode"]
        r = c.call("ListGroups", 5, {"StatesFilter": ["Empty"], "TypesFilter": []})
        out["list_groups_has_it"] = [(g["GroupState"], g["ProtocolType"], g["GroupType"])
                                     for g in r["Groups"] if g["GroupId"] == group]
        out["list_groups_error"] = r["ErrorCode"]
        r = c.call("DeleteGroups", 2, {"GroupsNames": [group, t.name("nogroup4"), ""]})
        out["delete_groups"] = {x["GroupId"].replace(t.suffix, "<suffix>"): x["ErrorCode"] for x in r["Results"]}
        out["fetch_after_group_delete"] = fetch(group)
        r = c.call("FindCoordinator", 6, {"Key": "", "KeyType": 0, "CoordinatorKeys": [group, ""]})
        for x in r["Coordinators"]:
            x["Key"] = x["Key"].replace(t.suffix, "<suffix>")
            x["Port"] = t.norm.port(x["Port"], t.port)
            x["ErrorMessage"] = None if x["ErrorMessage"] is None else "<message>"
        out["find_coordinator"] = r
        r = c.call("FindCoordinator", 6, {"Key": "", "KeyType": 1, "CoordinatorKeys": [t.name("txn")]})
        out["find_txn_coordinator"] = [(x["ErrorCode"], x["NodeId"]) for x in r["Coordinators"]]
        return out

    differential(observe)
