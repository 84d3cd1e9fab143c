"""Process plumbing shared by the Runnel and Kafka launchers.

Readiness is an answered request, never a sleep: `answers_api_versions` sends
ApiVersions v0 and `metadata_broker_ports` a Metadata v1 request, both
hand-packed here (a few bytes each) so the harness needs no client library.

Every child started through `spawn` is put in its own process group, is sent
SIGKILL by the kernel if this process dies (PR_SET_PDEATHSIG), and is killed
with its group at interpreter exit or on SIGTERM, so neither broker can be
left running by a crashed or interrupted test run.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_setup(extra=None):
    def setup():
        # Dies with us: a SIGKILLed test runner takes its brokers along.
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if extra is not None:
            extra()
    return setup


def _kill_all() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        kill_group(p)


def _on_sigterm(signum, frame):
    _kill_all()
    raise SystemExit(128 + signum)


def _install_handlers() -> None:
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(_kill_all)
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


def spawn(cmd: list[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None,
          preexec=None) -> subprocess.Popen:
    """Starts `cmd` in a new process group, stdout and stderr appended to `log_path`."""
    _install_handlers()
    with open(log_path, "ab") as log:
        log.write(f"\n=== harness: starting {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=cwd,
                                env=env, start_new_session=True, preexec_fn=_child_setup(preexec))
    with _LIVE_LOCK:
        _LIVE.add(proc)
    return proc


def forget(proc: subprocess.Popen) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(proc)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process and everything in its group; reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    forget(proc)


def stop_group(proc: subprocess.Popen, sig: int, timeout: float) -> bool:
    """Send `sig` to the process; SIGKILL its group after `timeout`. True if it
    exited by itself. The group is always killed afterwards: a child left
    behind (a JVM helper) must not outlive the broker."""
    clean = True
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            clean = False
    kill_group(proc)
    return clean


# --- /proc ------------------------------------------------------------------

def cpu_secs(pid: int) -> float:
    """User + system CPU seconds of the process (all threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class RssSampler:
    """Samples a process's RSS every 50 ms while load runs; keeps the peak."""

    def __init__(self, pid: int, period: float = 0.05):
        self.pid, self.period, self.peak = pid, period, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except (OSError, RuntimeError):
                pass
            self._stop.wait(self.period)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --- raw readiness probes -------------------------------------------------------

def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _request(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    head = _recv(sock, 4)
    (size,) = struct.unpack(">i", head)
    return _recv(sock, size)


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def answers_api_versions(port: int, timeout: float = 1.0, host: str = "127.0.0.1") -> bool:
    """True when the port accepts and answers ApiVersions v0 with error 0."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            resp = _request(s, struct.pack(">hhi", 18, 0, 1) + _string("harness"))
            return struct.unpack_from(">ih", resp)[1] == 0
    except (OSError, ConnectionError, struct.error):
        return False


def accepts(port: int, timeout: float = 1.0, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def metadata_broker_ports(port: int, timeout: float = 2.0, host: str = "127.0.0.1") -> set[int] | None:
    """Ports of the brokers a Metadata v1 request (no topics) lists; None on failure."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            # Metadata v1, topics = [] (an empty array: no topics, not all).
            resp = _request(s, struct.pack(">hhi", 3, 1, 2) + _string("harness") + struct.pack(">i", 0))
    except (OSError, ConnectionError, struct.error):
        return None
    pos = 4
    (n,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    ports = set()
    for _ in range(n):
        pos += 4  # node id
        (hlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + hlen
        (p,) = struct.unpack_from(">i", resp, pos)
        pos += 4
        (rlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + max(rlen, 0)
        ports.add(p)
    return ports


class NotReady(Exception):
    pass


def wait_ready(port: int, started: float, timeout: float, alive,
               listed: bool = True, host: str = "127.0.0.1") -> tuple[float, float, float]:
    """Waits for a broker spawned at `started` (monotonic) to accept on
    `host`:`port`, answer ApiVersions, and (when `listed`; a controller's
    port serves no Metadata) list itself in a Metadata answer.
    Returns the seconds to each; raises NotReady when `alive()` turns false
    or `timeout` passes. Polls every millisecond until the port accepts
    (start-up times are measured with it), then every 10 ms."""
    accept = answer = None
    while True:
        if not alive():
            raise NotReady(f"exited while starting (accepted: {accept}, answered: {answer})")
        if accept is None and accepts(port, 0.5, host):
            accept = time.monotonic() - started
        if accept is not None and answer is None and answers_api_versions(port, 2.0, host):
            answer = time.monotonic() - started
        if answer is not None and not listed:
            return accept, answer, answer
        if answer is not None:
            ports = metadata_broker_ports(port, host=host)
            if ports is not None and port in ports:
                return accept, answer, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise NotReady(f"not ready after {timeout}s (accepted: {accept}, answered: {answer})")
        time.sleep(0.001 if accept is None else 0.01)


def topic_leaders(port: int, topic: str, timeout: float = 2.0) -> int:
    """How many partitions of `topic` a Metadata v1 answer shows with a
    leader and no error (0 when the topic is unknown or the request fails)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            resp = _request(s, struct.pack(">hhi", 3, 1, 3) + _string("harness") + struct.pack(">i", 1)
                            + _string(topic))
    except (OSError, ConnectionError, struct.error):
        return 0
    pos = 4
    (n,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    for _ in range(n):  # brokers: id, host, port, rack
        pos += 4
        (hlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + hlen + 4
        (rlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + max(rlen, 0)
    pos += 4  # controller id
    (ntopics,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    if ntopics != 1:
        return 0
    (terr,) = struct.unpack_from(">h", resp, pos)
    pos += 2
    (nlen,) = struct.unpack_from(">h", resp, pos)
    pos += 2 + nlen + 1  # name, is_internal
    (nparts,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    led = 0
    for _ in range(nparts):
        perr, _index, leader = struct.unpack_from(">hii", resp, pos)
        pos += 10
        for _ in range(2):  # replicas, isr
            (k,) = struct.unpack_from(">i", resp, pos)
            pos += 4 + 4 * max(k, 0)
        if perr == 0 and leader >= 0:
            led += 1
    return led if terr == 0 else 0


def partitions_serving(port: int, topic: str, partitions: int, timeout: float = 2.0) -> bool:
    """True when ListOffsets v1 (latest) answers every partition of `topic`
    without error: the partitions are installed, not only in the metadata.
    Kafka answers NOT_LEADER_OR_FOLLOWER for a moment after Metadata names
    a new partition's leader."""
    body = struct.pack(">i", -1) + struct.pack(">i", 1) + _string(topic) + struct.pack(">i", partitions)
    for p in range(partitions):
        body += struct.pack(">iq", p, -1)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            resp = _request(s, struct.pack(">hhi", 2, 1, 4) + _string("harness") + body)
    except (OSError, ConnectionError, struct.error):
        return False
    pos = 4
    (ntopics,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    ok = 0
    for _ in range(ntopics):
        (nlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + nlen
        (nparts,) = struct.unpack_from(">i", resp, pos)
        pos += 4
        for _ in range(nparts):
            _p, err, _ts, _off = struct.unpack_from(">ihqq", resp, pos)
            pos += 22
            ok += err == 0
    return ok == partitions
