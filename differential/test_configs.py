"""DescribeConfigs for topics and brokers (names, values, sources, synonyms,
types, read-only and sensitive flags) and the config-changing APIs' errors."""

import pytest

from compare import keyed

TOPIC, BROKER = 2, 4


def norm_configs(t, result):
    """Values that name this broker's own ports and directories become a placeholder."""
    own = [str(t.port), str(t.broker.data_dir)]
    if hasattr(t.broker, "controller_port"):
        own.append(str(t.broker.controller_port))

    def value(v):
        if isinstance(v, str) and any(o in v for o in own):
            return "<this broker's ports or dirs>"
        return v

    configs = []
    for c in result["Configs"]:
        c["Value"] = value(c["Value"])
        for s in c["Synonyms"]:
            s["Value"] = value(s["Value"])
        c["Synonyms"] = keyed(c["Synonyms"], "Name", "Source")
        c.pop("Documentation", None)
        configs.append(c)
    result["Configs"] = keyed(configs, "Name")
    result["ErrorMessage"] = None if result["ErrorMessage"] is None else "<message>"
    return result


def describe(t, rtype, name, keys=None, version=4):
    r = t.call("DescribeConfigs", version, {
        "Resources": [{"ResourceType": rtype, "ResourceName": name, "ConfigurationKeys": keys}],
        "IncludeSynonyms": True, "IncludeDocumentation": False})
    return norm_configs(t, r["Results"][0])


@pytest.mark.smoke
def test_describe_topic_configs(differential):
    def observe(t):
        name = t.name("cfg")
        t.create_topic(name, configs={"retention.ms": "3600000", "cleanup.policy": "compact,delete"})
        return describe(t, TOPIC, name)

    differential(observe)


def test_describe_broker_configs(differential):
    differential(lambda t: describe(t, BROKER, "1"))


def test_describe_configs_errors(differential):
    def observe(t):
        name = t.name("cfgerr")
        t.create_topic(name)
        out = {}
        out["unknown_topic"] = describe(t, TOPIC, t.name("none"))
        out["other_broker"] = describe(t, BROKER, "2")
        out["bad_broker_id"] = describe(t, BROKER, "abc")
        out["default_broker"] = describe(t, BROKER, "", keys=["log.retention.ms", "num.partitions"])
        out["chosen_keys"] = describe(t, TOPIC, name, keys=["retention.ms", "no.such.key", "cleanup.policy"])
        out["v1"] = describe(t, TOPIC, name, keys=["retention.ms", "segment.bytes"], version=1)
        return out

    differential(observe)


def alter_result(r):
    x = r["Responses"][0]
    return (x["ErrorCode"], None if x["ErrorMessage"] is None else "<message>")


def test_incremental_alter_configs_errors(differential):
    def observe(t):
        name = t.name("iac")
        t.create_topic(name)
        cases = {
            "set_ok": (TOPIC, name, [("retention.ms", 0, "7200000")]),
            "unknown_key": (TOPIC, name, [("no.such.config", 0, "1")]),
            "bad_value": (TOPIC, name, [("retention.ms", 0, "abc")]),
            "bad_enum": (TOPIC, name, [("cleanup.policy", 0, "bogus")]),
            "append_to_non_list": (TOPIC, name, [("retention.ms", 2, "5")]),
            "append_list": (TOPIC, name, [("cleanup.policy", 2, "compact")]),
            "subtract_missing": (TOPIC, name, [("cleanup.policy", 3, "nothing")]),
            "delete": (TOPIC, name, [("retention.ms", 1, None)]),
            "same_key_twice": (TOPIC, name, [("retention.ms", 0, "1"), ("retention.ms", 0, "2")]),
            "unknown_topic": (TOPIC, t.name("none"), [("retention.ms", 0, "1")]),
            "bad_op": (TOPIC, name, [("retention.ms", 9, "1")]),
            "broker_read_only": (BROKER, "1", [("log.dirs", 0, "/tmp/x")]),
            "broker_dynamic": (BROKER, "1", [("log.retention.ms", 0, "100000000")]),
            "broker_unknown": (BROKER, "1", [("no.such.config", 0, "1")]),
        }
        out = {}
        for label, (rtype, rname, ops) in cases.items():
            r = t.call("IncrementalAlterConfigs", 1, {
                "Resources": [{"ResourceType": rtype, "ResourceName": rname,
                               "Configs": [{"Name": k, "ConfigOperation": op, "Value": v} for k, op, v in ops]}],
                "ValidateOnly": True})
            out[label] = alter_result(r)
        r = t.call("IncrementalAlterConfigs", 1, {
            "Resources": [{"ResourceType": TOPIC, "ResourceName": name,
                           "Configs": [{"Name": "retention.ms", "ConfigOperation": 0, "Value": "7200000"},
                                       {"Name": "cleanup.policy", "ConfigOperation": 2, "Value": "compact"}]}],
            "ValidateOnly": False})
        out["applied"] = alter_result(r)
        out["after"] = describe(t, TOPIC, name, keys=["retention.ms", "cleanup.policy"])
        return out

    differential(observe)


def test_alter_configs_errors(differential):
    def observe(t):
        name = t.name("ac")
        t.create_topic(name)
        out = {}
        for label, (rtype, rname, configs) in {
            "set_ok": (TOPIC, name, {"retention.ms": "7200000"}),
            "unknown_key": (TOPIC, name, {"no.such.config": "1"}),
            "bad_value": (TOPIC, name, {"retention.ms": "-5x"}),
            "unknown_topic": (TOPIC, t.name("none"), {"retention.ms": "1"}),
            "broker_read_only": (BROKER, "1", {"log.dirs": "/tmp/x"}),
        }.items():
            r = t.call("AlterConfigs", 2, {
                "Resources": [{"ResourceType": rtype, "ResourceName": rname,
                               "Configs": [{"Name": k, "Value": v} for k, v in configs.items()]}],
                "ValidateOnly": True})
            out[label] = alter_result(r)
        return out

    differential(observe)


def test_describe_configs_with_broker_overrides(differential, own_pair):
    """Broker keys set in the node's config: topic configs' sources and
    synonyms (Kafka lists nothing before the primary broker key), broker
    configs, and which broker keys may change at run time."""
    pair = own_pair({"log.retention.hours": "48", "log.roll.ms": "3600000", "log.segment.bytes": "2048000"})

    def observe(t):
        name = t.name("ovr")
        t.create_topic(name)
        keys = ["retention.ms", "segment.ms", "segment.bytes", "segment.jitter.ms", "cleanup.policy"]
        out = {"topic": describe(t, TOPIC, name, keys=keys),
               "broker": describe(t, BROKER, "1", keys=["log.retention.hours", "log.retention.ms", "log.roll.ms",
                                                        "log.roll.hours", "log.segment.bytes"])}
        for label, key, value in (("hours", "log.retention.hours", "24"), ("ms", "log.retention.ms", "7200000"),
                                  ("roll_hours", "log.roll.hours", "2")):
            r = t.call("IncrementalAlterConfigs", 1, {
                "Resources": [{"ResourceType": BROKER, "ResourceName": "1",
                               "Configs": [{"Name": key, "ConfigOperation": 0, "Value": value}]}],
                "ValidateOnly": True})
            out[f"alter_{label}"] = alter_result(r)
        return out

    differential(observe, on=pair)
