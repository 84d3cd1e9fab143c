"""Fixtures that run the real `runnel` binary for the client-compatibility suite.

Every test talks to a broker started here as a child process: on a free
loopback port, with its data under the test's tmp dir and its stderr captured
to a file. When a test fails, the tail of each broker's stderr written during
that test is attached to the report.

- `broker`: one broker shared by the whole session (default config, auto
  create on). Cheap; use unique topic names (`topic_name`).
- `broker_factory`: brokers of the test's own, with config overrides, that the
  test may stop, kill and restart on the same data dir and port.

`RUNNEL_BIN` overrides the binary (default: target/release/runnel).
A missing binary or client is an error, never a skip: CI must not go green
on a suite that did not run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

# Import every client up front: a missing one fails collection loudly.
import aiokafka  # noqa: F401
import confluent_kafka  # noqa: F401
import kafka  # noqa: F401
from confluent_kafka.admin import AdminClient

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "runnel"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
STDERR_TAIL_LINES = 80


class BrokerError(Exception):
    pass


def runnel_bin() -> Path:
    path = Path(os.environ.get("RUNNEL_BIN", DEFAULT_BIN))
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BrokerError(
            f"runnel binary not found or not executable at {path}; "
            "run `make build` or set RUNNEL_BIN"
        )
    return path


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One `runnel` child process; survives restarts on the same port and data dir."""

    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None, name: str = "broker",
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None):
        self.name = name
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.stderr_path = workdir / "runnel.stderr.log"
        self.port = free_port()
        self.overrides = {
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.data_dir),
            # Metrics off: a fixed metrics port would collide between brokers.
            "runnel.metrics.listener": "",
        }
        self.overrides.update(overrides or {})
        self.proc: subprocess.Popen | None = None
        self.last_returncode: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [str(runnel_bin())]
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd + self.extra_args

    def start(self, timeout: float = READY_TIMEOUT_S) -> "Broker":
        assert not self.alive, "broker already running"
        cmd = self.command()
        with open(self.stderr_path, "ab") as log:
            log.write(f"\n=== compat: starting {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
                env={**os.environ, "RUST_BACKTRACE": "1", **self.env},
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Ready = the port accepts and a real client gets metadata naming us."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_running("while starting")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BrokerError(f"port {self.port} not accepting after {timeout}s\n{self.tail()}")
                time.sleep(0.05)
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 3})
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self._check_running("while waiting for metadata")
            try:
                md = admin.list_topics(timeout=2)
                ports = {b.port for b in md.brokers.values()}
                if self.port in ports:
                    return
                last_error = BrokerError(f"metadata lists brokers on ports {ports}, not {self.port}")
            except Exception as e:  # noqa: BLE001 - retried until the deadline
                last_error = e
            time.sleep(0.1)
        raise BrokerError(f"no metadata within {timeout}s: {last_error!r}\n{self.tail()}")

    def _check_running(self, what: str) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise BrokerError(f"runnel exited ({code}) {what}\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Send `sig` and wait; escalate to SIGKILL after `timeout`. Returns the exit code."""
        if self.proc is None:
            raise BrokerError("broker was never started")
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.last_returncode = self.proc.returncode
                raise BrokerError(f"runnel ignored signal {sig} for {timeout}s; killed\n{self.tail()}")
        self.last_returncode = self.proc.returncode
        return self.last_returncode

    def kill(self) -> int:
        """kill -9: no chance to flush or clean up."""
        return self.stop(signal.SIGKILL, timeout=10)

    def restart(self, sig: int = signal.SIGTERM) -> int:
        code = self.stop(sig)
        self.start()
        return code

    def stderr_size(self) -> int:
        try:
            return self.stderr_path.stat().st_size
        except FileNotFoundError:
            return 0

    def tail(self, since: int = 0, lines: int = STDERR_TAIL_LINES) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return "(no stderr captured)"
        return "\n".join(text.splitlines()[-lines:])


# --- report hook: attach broker stderr to failing tests ----------------------

_BROKERS_USED = pytest.StashKey[list]()


def _note_broker(request: pytest.FixtureRequest, broker: Broker) -> None:
    used = request.node.stash.setdefault(_BROKERS_USED, [])
    used.append((broker, broker.stderr_size()))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for broker, offset in item.stash.get(_BROKERS_USED, []):
            report.sections.append(
                (f"runnel stderr ({broker.name}, {broker.stderr_path}), tail", broker.tail(offset))
            )
    return report


# --- fixtures -------------------------------------------------------------------

class ExternalBroker(Broker):
    """A broker someone else runs (COMPAT_EXTERNAL_BOOTSTRAP=host:port), to debug the suite itself."""

    def __init__(self, workdir: Path, bootstrap: str):
        super().__init__(workdir, name="external")
        self.port = int(bootstrap.rsplit(":", 1)[1])

    @property
    def alive(self) -> bool:
        return True

    def start(self, timeout: float = READY_TIMEOUT_S) -> "Broker":
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        return 0


def long_lived_broker(tmp_path_factory, name: str, overrides: dict[str, str] | None = None):
    """Generator for a fixture of a wider scope: one broker for many tests."""
    b = Broker(tmp_path_factory.mktemp(f"{name}-broker"), overrides, name=name)
    b.start()
    yield b
    if b.alive:
        b.stop()


def lend(request: pytest.FixtureRequest, b: Broker):
    """Generator for a test's fixture over a long-lived broker. A crash fails
    the test that saw it; the next test gets the broker back."""
    if not b.alive:
        b.start()
    _note_broker(request, b)
    yield b
    if not b.alive:
        pytest.fail(f"{b.name} broker exited ({b.proc.returncode}) during this test\n" + b.tail())


@pytest.fixture(scope="session")
def _shared_broker(tmp_path_factory):
    external = os.environ.get("COMPAT_EXTERNAL_BOOTSTRAP")
    if external:
        yield ExternalBroker(tmp_path_factory.mktemp("external-broker"), external)
        return
    yield from long_lived_broker(tmp_path_factory, "shared")


@pytest.fixture
def broker(request, _shared_broker: Broker) -> Broker:
    """The session's broker (default config, auto-create on)."""
    yield from lend(request, _shared_broker)


@pytest.fixture
def broker_factory(request, tmp_path):
    """Start brokers with their own overrides: `broker_factory({"message.max.bytes": "100000"})`."""
    started: list[Broker] = []

    def make(overrides: dict[str, str] | None = None, name: str | None = None, start: bool = True,
             extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> Broker:
        name = name or f"own{len(started)}"
        b = Broker(tmp_path / name, overrides, name=name, extra_args=extra_args, env=env)
        started.append(b)
        _note_broker(request, b)
        if start:
            b.start()
        return b

    yield make
    for b in started:
        if b.alive:
            try:
                b.stop()
            except BrokerError:
                pass


# Group timers short enough for tests: no initial rebalance delay, and KIP-848
# members' session and heartbeat interval (set by the broker) in seconds.
GROUP_OVERRIDES = {
    "group.initial.rebalance.delay.ms": "0",
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.heartbeat.interval.ms": "500",
}


@pytest.fixture(scope="session")
def _shared_group_broker(tmp_path_factory):
    yield from long_lived_broker(tmp_path_factory, "groups", GROUP_OVERRIDES)


@pytest.fixture
def group_broker(request, _shared_group_broker: Broker) -> Broker:
    """A second shared broker with GROUP_OVERRIDES, for group tests that need no broker of their own."""
    yield from lend(request, _shared_group_broker)


@pytest.fixture(scope="session", autouse=True)
def _driver_processes():
    """The per-language driver processes live for the session (drivers.py)."""
    import drivers

    yield
    drivers.close_all()


# --- the feature x client table (make compat-matrix) ---------------------------------

def pytest_addoption(parser):
    parser.addoption("--matrix", metavar="PATH", default=None,
                     help="write the feature x client table of the collected tests to PATH (markdown)")


def pytest_configure(config):
    config.addinivalue_line("markers", "covers(*features, clients=[...]): features a test proves, and with "
                                       "which clients when it is not parametrized over `client`")


def pytest_collection_finish(session):
    path = session.config.getoption("--matrix")
    if not path:
        return
    import matrix

    Path(path).write_text(matrix.render(session.items))


@pytest.fixture
def topic_name(request):
    """Unique topic names derived from the test name: `topic_name()`, `topic_name("suffix")`."""
    base = re.sub(r"[^a-zA-Z0-9_-]+", "-", request.node.name).strip("-")[:80]

    def make(suffix: str = "") -> str:
        return f"{base}{'-' + suffix if suffix else ''}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture(scope="session")
def kcat_path() -> str:
    path = shutil.which("kcat")
    if path is None:
        raise BrokerError("kcat is not installed; run `make kcat` (it is a required client)")
    return path
