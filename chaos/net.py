"""Network namespaces for the fault-injection harness (issue 15).

Every node gets a namespace `rnlch<slot>-n<id>` with one veth end (`eth0`)
at 10.77.<slot>.<10+id>/24; the other ends hang on the bridge
`rnlch<slot>-br0` in the root namespace, which holds 10.77.<slot>.1 and is
where the workload runs. Faults are applied inside a node's own namespace
only (its iptables, its qdisc); the root namespace gets one rule, tagged
with a comment, that lets frames pass between the bridge's own ports (a
host with br_netfilter and a DROP forward policy would drop them). Nothing
outside 10.77.<slot>.0/24 is ever addressed. Everything made here carries
the `rnlch` prefix, so `cleanup()` can remove what a crashed run left
behind.
"""

from __future__ import annotations

import os
import subprocess

# CHAOS_SLOT (0-9, default 0) lets runs side by side: slot k uses the prefix
# `rnlch<k>-` and the subnet 10.77.<k>.0/24, and cleans up only its own.
SLOT = int(os.environ.get("CHAOS_SLOT", "0"))
if not 0 <= SLOT <= 9:
    raise ValueError("CHAOS_SLOT must be 0-9")
ALL_PREFIX = "rnlch"
PREFIX = f"{ALL_PREFIX}{SLOT}-"
BRIDGE = PREFIX + "br0"
SUBNET = f"10.77.{SLOT}"
CLIENT_ADDR = f"{SUBNET}.1"


class NetError(Exception):
    pass


def sh(*cmd: str, check: bool = True, ns: str | None = None) -> subprocess.CompletedProcess:
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    out = subprocess.run(full, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    if check and out.returncode != 0:
        raise NetError(f"{' '.join(full)} exited {out.returncode}: {out.stderr.strip()}")
    return out


def ns_name(node_id: int) -> str:
    return f"{PREFIX}n{node_id}"


def node_addr(node_id: int) -> str:
    return f"{SUBNET}.{10 + node_id}"


def require_tools() -> None:
    """Fails loudly (never skips) when the machine cannot make namespaces."""
    import shutil
    for tool in ("ip", "iptables", "tc"):
        if not shutil.which(tool):
            raise NetError(f"`{tool}` not found: the chaos harness needs iproute2 and iptables "
                           "(apt-get install iproute2 iptables) and root")
    probe = PREFIX + "probe"
    sh("ip", "netns", "del", probe, check=False)
    out = sh("ip", "netns", "add", probe, check=False)
    if out.returncode != 0:
        raise NetError("`ip netns add` does not work here (the chaos harness needs root and network "
                       f"namespaces): {out.stderr.strip()}")
    try:
        r = sh("iptables", "-L", "-n", ns=probe, check=False)
        if r.returncode != 0:
            raise NetError(f"iptables does not work inside a namespace: {r.stderr.strip()}")
    finally:
        sh("ip", "netns", "del", probe, check=False)


def netem_available() -> bool:
    """Some kernels (this project's CI VMs among them) ship without sch_netem."""
    probe = PREFIX + "probe"
    sh("ip", "netns", "del", probe, check=False)
    sh("ip", "netns", "add", probe)
    try:
        sh("ip", "link", "set", "lo", "up", ns=probe)
        return sh("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
                  ns=probe, check=False).returncode == 0
    finally:
        sh("ip", "netns", "del", probe, check=False)


def setup(node_ids: list[int]) -> None:
    cleanup()
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{CLIENT_ADDR}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    # With br_netfilter loaded the root FORWARD chain sees bridged frames;
    # our frames must pass whatever policy the host has, so accept them in
    # our own chain (removed by cleanup).
    if sh("iptables", "-L", "FORWARD", "-n", check=False).returncode == 0:
        sh("iptables", "-I", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT",
           "-m", "comment", "--comment", PREFIX + "bridge", check=False)
    for n in node_ids:
        ns = ns_name(n)
        veth = f"{PREFIX}v{n}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", f"{PREFIX}p{n}")
        sh("ip", "link", "set", f"{PREFIX}p{n}", "netns", ns)
        sh("ip", "link", "set", f"{PREFIX}p{n}", "name", "eth0", ns=ns)
        sh("ip", "addr", "add", f"{node_addr(n)}/24", "dev", "eth0", ns=ns)
        sh("ip", "link", "set", "eth0", "up", ns=ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "set", veth, "master", BRIDGE)
        sh("ip", "link", "set", veth, "up")


def cleanup(every_slot: bool = False) -> list[str]:
    """Removes every namespace, link and rule with this slot's prefix (with
    `every_slot`, any slot's); returns what it removed."""
    prefix = ALL_PREFIX if every_slot else PREFIX
    removed = []
    out = sh("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix):
            # Kill whatever still runs inside before the namespace goes.
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], capture_output=True)
            sh("ip", "netns", "del", name, check=False)
            removed.append(f"netns {name}")
    links = sh("ip", "-o", "link", "show", check=False).stdout
    for line in links.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(prefix):
                sh("ip", "link", "del", name, check=False)
                removed.append(f"link {name}")
    # Small filesystems made for the log dirs (their source names carry the prefix).
    with open("/proc/mounts") as f:
        mounts = [line.split()[:2] for line in f]
    for source, target in reversed(mounts):
        if source.startswith(prefix):
            sh("umount", "-l", target.replace("\\040", " "), check=False)
            removed.append(f"mount {target}")
    rules = sh("iptables", "-S", "FORWARD", check=False).stdout.splitlines()
    for rule in rules:
        if f'--comment {prefix}' in rule or f'--comment "{prefix}' in rule:
            if sh("iptables", *rule.replace("-A FORWARD", "-D FORWARD", 1).replace('"', "").split(),
                  check=False).returncode == 0:
                removed.append("iptables FORWARD rule")
    return removed


# --- faults, each inside the target's own namespace ------------------------------

def isolate(node_id: int, peers: list[str]) -> None:
    """Cuts the node off from every address in `peers` (both directions)."""
    ns = ns_name(node_id)
    for addr in peers:
        sh("iptables", "-A", "INPUT", "-s", addr, "-j", "DROP", ns=ns)
        sh("iptables", "-A", "OUTPUT", "-d", addr, "-j", "DROP", ns=ns)


def drop_from(node_id: int, addrs: list[str]) -> None:
    """One-way cut: the node receives nothing from `addrs` but still sends to them."""
    ns = ns_name(node_id)
    for addr in addrs:
        sh("iptables", "-A", "INPUT", "-s", addr, "-j", "DROP", ns=ns)


def lossy(node_id: int, loss: float) -> None:
    """Random loss of incoming and outgoing packets (iptables statistic)."""
    ns = ns_name(node_id)
    for chain in ("INPUT", "OUTPUT"):
        sh("iptables", "-A", chain, "-s" if chain == "INPUT" else "-d", f"{SUBNET}.0/24",
           "-m", "statistic", "--mode", "random", "--probability", str(loss), "-j", "DROP", ns=ns)


def slow(node_id: int, delay_ms: int, jitter_ms: int, loss_pct: float, netem: bool) -> str:
    """Latency (and loss) on the node's eth0: netem where the kernel has it,
    else a token bucket that queues (delay by rate) plus iptables loss.
    Returns what was applied."""
    ns = ns_name(node_id)
    if netem:
        sh("tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", f"{delay_ms}ms", f"{jitter_ms}ms",
           "loss", f"{loss_pct}%", "reorder", "5%", ns=ns)
        return f"netem delay {delay_ms}ms±{jitter_ms}ms loss {loss_pct}% reorder 5%"
    sh("tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "1mbit", "burst", "16kb",
       "latency", f"{delay_ms}ms", ns=ns)
    if loss_pct:
        lossy(node_id, loss_pct / 100)
    return f"tbf 1mbit latency {delay_ms}ms, iptables loss {loss_pct}% (no netem in this kernel)"


def heal(node_id: int) -> None:
    ns = ns_name(node_id)
    sh("iptables", "-F", "INPUT", ns=ns, check=False)
    sh("iptables", "-F", "OUTPUT", ns=ns, check=False)
    sh("tc", "qdisc", "del", "dev", "eth0", "root", ns=ns, check=False)


# --- a small disk per node, for the full-disk nemesis ------------------------------

DISK_MIB = 256
FILLER = "chaos-filler"


def mount_disk(node_id: int, path) -> None:
    """A tmpfs of DISK_MIB at `path` (the node's log dir), named for cleanup."""
    import pathlib
    pathlib.Path(path).mkdir(parents=True, exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", f"{PREFIX}disk{node_id}", str(path))


def fill_disk(path) -> int:
    """Fills the filesystem at `path` to the last byte; returns the bytes written."""
    import pathlib
    filler = pathlib.Path(path) / FILLER
    written = 0
    chunk = b"\0" * (1 << 20)
    try:
        with open(filler, "ab") as f:
            while True:
                f.write(chunk)
                written += len(chunk)
    except OSError:
        pass
    # The last partial chunk: fill byte by byte blocks of 4 KiB.
    try:
        with open(filler, "ab") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
                written += 4096
    except OSError:
        pass
    return written


def free_disk(path) -> None:
    import pathlib
    (pathlib.Path(path) / FILLER).unlink(missing_ok=True)
