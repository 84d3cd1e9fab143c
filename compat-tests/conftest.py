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


@pytest.fixture(scope="session")
def _shared_broker(tmp_path_factory):
    external = os.environ.get("COMPAT_EXTERNAL_BOOTSTRAP")
    if external:
        yield ExternalBroker(tmp_path_factory.mktemp("external-broker"), external)
        return
    b = Broker(tmp_path_factory.mktemp("shared-broker"), name="shared")
    b.start()
    yield b
    if b.alive:
        b.stop()


@pytest.fixture
def broker(request, _shared_broker: Broker) -> Broker:
    """The session's broker. A crash fails the test that saw it; the next test gets it back."""
    if not _shared_broker.alive:
        _shared_broker.start()
    _note_broker(request, _shared_broker)
    yield _shared_broker
    if not _shared_broker.alive:
        pytest.fail(
            f"shared broker exited ({_shared_broker.proc.returncode}) during this test\n"
            + _shared_broker.tail()
        )


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
