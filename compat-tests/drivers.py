"""The per-language driver programs (drivers/java, drivers/go, drivers/js) as
Python objects.

A driver is a long-running child process that takes one JSON command per
line on stdin and answers one JSON line on stdout:
``{"id", "ok", "result" | "error": {"class", "message"}, "log": [...]}``.
``log`` holds the WARN/ERROR lines the client library itself logged while
the command ran (Java and kafkajs); `Driver.call` fails the test on any
line the caller did not expect. The driver's stderr (the client's whole
log) goes to a file whose tail is attached when a command fails.

Drivers are built by `make drivers` (the Makefile); a missing build is an
error, never a skip. One process per driver and session: JVM start-ups are
few, every test uses unique topic and group names.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRIVERS = HERE / "drivers"
JAVA_BUILD = DRIVERS / "java" / "target"
GO_BIN = DRIVERS / "go" / "bin" / "compat-go"
JS_DRIVER = DRIVERS / "js" / "driver.js"
KAFKA_TOOLS_CP = DRIVERS / "kafka-tools" / "target" / "classpath.txt"
CONNECT_CP = DRIVERS / "connect" / "target" / "classpath.txt"
LOG_DIR = Path(os.environ.get("COMPAT_DRIVER_LOGS", HERE / ".driver-logs"))

# Java client versions under test; each has its own build of drivers/java.
JAVA_VERSIONS = ("4.1.2", "4.4.0")


class DriverMissing(Exception):
    pass


def need_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DriverMissing(f"{what} not built: {path} is missing; run `make drivers`")
    return path


def java_bin() -> str:
    java = shutil.which("java")
    if java is None:
        raise DriverMissing("java is not on PATH (the Java client, tools, Streams and Connect need it)")
    return java


def java_classpath(version: str) -> str:
    build = JAVA_BUILD / f"kafka-{version}"
    deps = need_file(build / "classpath.txt", f"Java driver for kafka-clients {version}").read_text().strip()
    return f"{build / 'classes'}{os.pathsep}{deps}"


def java_argv(version: str, *args: str) -> list[str]:
    return [java_bin(), "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Xmx512m",
            "-cp", java_classpath(version), *args]


def tools_argv(*args: str) -> list[str]:
    """The Java driver (its 4.4.0 build, which has ToolRunner) on Kafka's tools classpath."""
    tools = need_file(KAFKA_TOOLS_CP, "Kafka tools classpath").read_text().strip()
    classes = JAVA_BUILD / f"kafka-{JAVA_VERSIONS[-1]}" / "classes"
    need_file(classes / "runnel" / "compat" / "ToolRunner.class", "Java driver")
    return [java_bin(), "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-Xmx512m",
            "-cp", f"{classes}{os.pathsep}{tools}", "runnel.compat.Driver", *args]


def go_argv(*args: str) -> list[str]:
    return [str(need_file(GO_BIN, "Go driver")), *args]


def js_argv(*args: str) -> list[str]:
    need_file(DRIVERS / "js" / "node_modules" / "kafkajs" / "package.json", "kafkajs (npm ci)")
    node = shutil.which("node")
    if node is None:
        raise DriverMissing("node is not on PATH (kafkajs needs it)")
    return [node, str(JS_DRIVER), *args]


class DriverError(AssertionError):
    pass


@dataclass
class Reply:
    ok: bool
    result: object
    error: dict | None
    log: list[str]


class Driver:
    """One driver process. `call` sends a command and waits for its answer."""

    def __init__(self, name: str, argv: list[str]):
        self.name = name
        self.argv = argv
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.stderr_path = LOG_DIR / f"{name}.stderr.log"
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, cwd=HERE)
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._next_id = 0

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def tail(self, since: int = 0, lines: int = 60) -> str:
        with open(self.stderr_path, "rb") as f:
            f.seek(since)
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])

    def raw(self, op: str, timeout: float = 150, **args) -> Reply:
        """Send one command; the answer as it came, errors included."""
        if self.proc.poll() is not None:
            raise DriverError(f"{self.name} driver exited ({self.proc.returncode})\n{self.tail()}")
        self._next_id += 1
        since = self._stderr.tell()
        cmd = {"id": self._next_id, "op": op, **args}
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise DriverError(f"{self.name}: no answer to {op} within {timeout}s; killed\n{self.tail(since)}")
        if line is None:
            raise DriverError(f"{self.name} driver exited ({self.proc.wait()}) during {op}\n{self.tail(since)}")
        reply = json.loads(line)
        assert reply.get("id") == cmd["id"], f"{self.name}: answer {reply.get('id')} to command {cmd['id']}"
        return Reply(reply["ok"], reply.get("result"), reply.get("error"), reply.get("log") or [])

    def call(self, op: str, *, allow_log: tuple[str, ...] = (), timeout: float = 150, **args):
        """Send one command and return its result; a failed command, or a
        client log line at WARN/ERROR not matched by a regex in `allow_log`,
        fails the test."""
        reply = self.raw(op, timeout=timeout, **args)
        check_log(self.name, op, reply.log, allow_log)
        if not reply.ok:
            raise DriverError(f"{self.name} {op} failed: {reply.error}")
        return reply.result

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
        self._stderr.close()


def check_log(name: str, op: str, log: list[str], allow: tuple[str, ...]) -> None:
    unexpected = [line for line in log if not any(re.search(a, line) for a in allow)]
    assert not unexpected, (
        f"{name} {op}: the client logged {len(unexpected)} unexpected WARN/ERROR line(s):\n"
        + "\n".join(unexpected[:20]))


_RUNNING: dict[str, Driver] = {}


def driver(key: str, argv_factory) -> Driver:
    """The session's driver process for `key`, started on first use."""
    d = _RUNNING.get(key)
    if d is None or d.proc.poll() is not None:
        d = Driver(key, argv_factory())
        _RUNNING[key] = d
    return d


def close_all() -> None:
    for d in list(_RUNNING.values()):
        d.close()
    _RUNNING.clear()
