"""One consumer-group member, run as its own process so a test can stop it
gracefully (SIGTERM: the client leaves the group) or kill it (SIGKILL: the
broker must notice by session timeout).

    python group_member.py CLIENT BOOTSTRAP TOPIC GROUP OUTFILE [key=value ...]

CLIENT is ck (confluent-kafka), ck-coop (cooperative-sticky), ck-848
(group.protocol=consumer), kp (kafka-python) or aio (aiokafka). Extra
key=value pairs: `instance=<group.instance.id>`, `session=<ms>`.

The member commits each record synchronously and only then appends
"partition offset" to OUTFILE, so the file lists exactly the records whose
consumption is final. A record whose commit failed (a rebalance took its
partition) is not written; the member seeks back to it, and whoever owns
the partition next consumes it from the committed offset. Assignments are
appended as "assigned p,p,...". A test reading the files therefore sees
every record exactly once, or the broker lost or duplicated one.
"""

from __future__ import annotations

import asyncio
import signal
import sys

stop = False


def on_term(*_):
    global stop
    stop = True


def write(out, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def run_ck(bootstrap, topic, group, out, opts, flavour):
    import confluent_kafka as ck

    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "log_level": 4,
    }
    if flavour == "848":
        conf["group.protocol"] = "consumer"
    else:
        conf["session.timeout.ms"] = int(opts.get("session", 6000))
        conf["heartbeat.interval.ms"] = 500
        if flavour == "coop":
            conf["partition.assignment.strategy"] = "cooperative-sticky"
    if "instance" in opts:
        conf["group.instance.id"] = opts["instance"]
    c = ck.Consumer(conf)

    # Cooperative rebalances (and KIP-848) hand out and take back
    # increments; eager ones replace the whole assignment.
    owned: set[int] = set()

    def incremental(consumer) -> bool:
        return flavour != "eager"

    def on_assign(consumer, partitions):
        if not incremental(consumer):
            owned.clear()
        owned.update(p.partition for p in partitions)
        write(out, "assigned " + ",".join(str(p) for p in sorted(owned)))

    def on_revoke(consumer, partitions):
        if incremental(consumer):
            owned.difference_update(p.partition for p in partitions)
        else:
            owned.clear()
        write(out, "assigned " + ",".join(str(p) for p in sorted(owned)))

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    while not stop:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            continue
        try:
            c.commit(message=m, asynchronous=False)
        except ck.KafkaException:
            try:
                c.seek(ck.TopicPartition(topic, m.partition(), m.offset()))
            except ck.KafkaException:
                pass
            continue
        write(out, f"{m.partition()} {m.offset()}")
    c.close()


def run_kp(bootstrap, topic, group, out, opts):
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.errors import KafkaError

    kwargs = dict(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(opts.get("session", 6000)),
        heartbeat_interval_ms=500,
    )
    if "instance" in opts:
        kwargs["group_instance_id"] = opts["instance"]
    c = KafkaConsumer(**kwargs)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            write(out, "assigned " + ",".join(str(tp.partition) for tp in assigned))

    c.subscribe([topic], listener=Listener())
    while not stop:
        batches = c.poll(timeout_ms=200)
        for tp, records in batches.items():
            for r in records:
                try:
                    c.commit({tp: OffsetAndMetadata(r.offset + 1, "", -1)})
                except KafkaError:
                    try:
                        c.seek(TopicPartition(topic, r.partition), r.offset)
                    except Exception:  # noqa: BLE001 - partition no longer ours
                        pass
                    break
                write(out, f"{r.partition} {r.offset}")
    c.close()


async def run_aio(bootstrap, topic, group, out, opts):
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
    from aiokafka.errors import KafkaError

    class Listener(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked):
            pass

        async def on_partitions_assigned(self, assigned):
            write(out, "assigned " + ",".join(str(tp.partition) for tp in assigned))

    kwargs = dict(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(opts.get("session", 6000)),
        heartbeat_interval_ms=500,
    )
    if "instance" in opts:
        kwargs["group_instance_id"] = opts["instance"]
    c = AIOKafkaConsumer(**kwargs)
    await c.start()
    c.subscribe([topic], listener=Listener())
    try:
        while not stop:
            batches = await c.getmany(timeout_ms=200)
            for tp, records in batches.items():
                for r in records:
                    try:
                        await c.commit({tp: r.offset + 1})
                    except KafkaError:
                        try:
                            c.seek(tp, r.offset)
                        except Exception:  # noqa: BLE001 - partition no longer ours
                            pass
                        break
                    write(out, f"{r.partition} {r.offset}")
    finally:
        await c.stop()


def main() -> None:
    client, bootstrap, topic, group, outfile = sys.argv[1:6]
    opts = dict(a.split("=", 1) for a in sys.argv[6:])
    signal.signal(signal.SIGTERM, on_term)
    with open(outfile, "a") as out:
        write(out, "started")
        if client == "ck":
            run_ck(bootstrap, topic, group, out, opts, "eager")
        elif client == "ck-coop":
            run_ck(bootstrap, topic, group, out, opts, "coop")
        elif client == "ck-848":
            run_ck(bootstrap, topic, group, out, opts, "848")
        elif client == "kp":
            run_kp(bootstrap, topic, group, out, opts)
        elif client == "aio":
            asyncio.run(run_aio(bootstrap, topic, group, out, opts))
        else:
            raise SystemExit(f"unknown client {client}")
        write(out, "closed")


if __name__ == "__main__":
    main()
