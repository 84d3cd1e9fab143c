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
import sys
import uuid
from pathlib import Path

import pytest

# Import every client up front: a missing one fails collection loudly.
import aiokafka  # noqa: F401
import confluent_kafka  # noqa: F401
import kafka  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

# The launcher is shared with the differential suite and the bench.
from harness.runnel import BrokerError, free_port, runnel_bin  # noqa: E402,F401
from harness.runnel import RunnelBroker as Broker  # noqa: E402

STOP_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 30.0


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
