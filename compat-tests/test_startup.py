"""What an operator sees when starting the binary: the start-up report,
`--version`, `--print-config`, `--check`, NO_COLOR, and one clear line with
exit code 2 ("bad configuration or environment") and no backtrace for every
start that cannot go on, naming the key, path or variable.

Each case runs the real binary with RUST_BACKTRACE=1 in its environment:
a user who exports it for their own Rust work must still get one line.
"""

from __future__ import annotations

import os
import pty
import re
import select
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port, runnel_bin

EXIT_BAD_CONFIG = 2


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "RUST_LOG", "NO_COLOR"))}
    base["RUST_BACKTRACE"] = "1"
    return subprocess.run([str(runnel_bin()), *args], env={**base, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, **kw)


def node_args(tmp_path: Path, **over: str) -> list[str]:
    pairs = {"listeners": f"PLAINTEXT://127.0.0.1:{free_port()}", "log.dirs": str(tmp_path / "data"),
             "runnel.metrics.listener": "", **over}
    return [a for k, v in pairs.items() if v is not None for a in ("--override", f"{k}={v}")]


def assert_refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, the last stderr line is the one error line, naming every needle; no backtrace."""
    err = proc.stderr
    assert proc.returncode == EXIT_BAD_CONFIG, (proc.returncode, err)
    assert "backtrace" not in err.lower() and "panicked" not in err and "Caused by" not in err, err
    [line] = [l for l in err.splitlines() if l.startswith("runnel: ")]
    assert err.rstrip().endswith(line), err
    for n in needles:
        assert n in line, (n, line)
    return line


# --- refused starts ---------------------------------------------------------------------------

def test_port_in_use_names_the_listener_key_and_variable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        args = node_args(tmp_path, listeners=None)
        proc = run(args, env={"KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}"})
    assert_refused(proc, f"127.0.0.1:{port}", "listener PLAINTEXT", "'listeners'",
                   "environment variable KAFKA_LISTENERS", "Address already in use")


def test_metrics_port_in_use_says_how_to_move_it(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run(node_args(tmp_path, **{"runnel.metrics.listener": f"127.0.0.1:{port}"}))
    assert_refused(proc, f"127.0.0.1:{port}", "'runnel.metrics.listener'", "KAFKA_RUNNEL_METRICS_LISTENER",
                   "Address already in use")


def test_a_log_dir_that_is_a_file(tmp_path):
    f = tmp_path / "not-a-dir"
    f.write_text("x")
    proc = run(node_args(tmp_path, **{"log.dirs": None}), env={"KAFKA_LOG_DIRS": str(f)})
    assert_refused(proc, str(f), "'log.dirs'", "KAFKA_LOG_DIRS", "is not a directory")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the binary as another user")
def test_a_log_dir_without_permission(tmp_path):
    """As an unprivileged user, under a directory it may not write."""
    parent = tmp_path / "root-owned"
    parent.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    target = parent / "data"
    proc = run(node_args(tmp_path, **{"log.dirs": str(target)}), user=65534, group=65534)
    assert_refused(proc, str(target), "'log.dirs', set by --override", "Permission denied")
    assert not target.exists()


def test_a_metrics_listener_given_as_a_host_name(tmp_path):
    proc = run(node_args(tmp_path, **{"runnel.metrics.listener": None}),
               env={"KAFKA_RUNNEL_METRICS_LISTENER": "localhost:9400"})
    assert_refused(proc, "'runnel.metrics.listener'", '"localhost:9400"', "host names are not resolved",
                   "environment variable KAFKA_RUNNEL_METRICS_LISTENER")


def test_a_bad_value_names_the_kafka_variable(tmp_path):
    proc = run(node_args(tmp_path), env={"KAFKA_NUM_PARTITIONS": "three"})
    assert_refused(proc, "'num.partitions'", '"three"', "environment variable KAFKA_NUM_PARTITIONS")


def test_a_bad_override(tmp_path):
    proc = run([*node_args(tmp_path), "--override", "num.partitions"])
    assert_refused(proc, 'invalid override "num.partitions"', "key=value")


def test_a_locked_data_dir(broker_factory):
    a = broker_factory()
    proc = run(["--override", f"listeners=PLAINTEXT://127.0.0.1:{free_port()}", "--override",
                f"log.dirs={a.data_dir}", "--override", "runnel.metrics.listener="])
    assert_refused(proc, str(a.data_dir), "in use", f"pid {a.proc.pid}")
    assert a.alive


def test_a_bad_log_filter_is_reported_not_replaced(tmp_path):
    assert_refused(run(node_args(tmp_path), env={"RUST_LOG": "runnel=loud"}), 'RUST_LOG "runnel=loud"')
    assert_refused(run(node_args(tmp_path, **{"runnel.log.filter": "warn,x=y=z"})),
                   "'runnel.log.filter'", "set by --override")


def test_a_typo_gets_did_you_mean(tmp_path):
    proc = run([*node_args(tmp_path), "--check"], env={"KAFKA_LOG_RETENTON_HOURS": "3"})
    assert proc.returncode == 0, proc.stderr
    assert ("unknown config 'log.retenton.hours' (set by environment variable KAFKA_LOG_RETENTON_HOURS) "
            "is ignored; did you mean 'log.retention.hours'?") in proc.stderr, proc.stderr


# --- what a good start says ---------------------------------------------------------------------

def test_version_has_commit_and_build_date():
    proc = run(["--version"])
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"runnel \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}|unknown), built \d{4}-\d{2}-\d{2}\)\n",
                        proc.stdout), proc.stdout


def test_print_config_shows_each_value_and_its_source(tmp_path):
    props = tmp_path / "server.properties"
    props.write_text("num.partitions=4\nlog.retention.hours=48\n")
    proc = run([*node_args(tmp_path), "--server-properties", str(props), "--print-config",
                "--override", "log.retention.hours=12"], env={"KAFKA_DEFAULT_REPLICATION_FACTOR": "1"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert f"num.partitions=4  # properties file {props}" in lines
    assert "log.retention.hours=12  # --override" in lines
    assert "default.replication.factor=1  # environment variable KAFKA_DEFAULT_REPLICATION_FACTOR" in lines
    assert "log.segment.bytes=1073741824  # default" in lines
    keys = [line.split("=", 1)[0] for line in lines]
    assert len(keys) > 100 and keys == sorted(keys) and len(set(keys)) == len(keys)


def test_check_validates_without_touching_anything(tmp_path):
    data = tmp_path / "data"
    proc = run([*node_args(tmp_path), "--check"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("runnel: configuration OK"), proc.stdout
    assert not data.exists()
    f = tmp_path / "file"
    f.write_text("")
    assert_refused(run([*node_args(tmp_path, **{"log.dirs": str(f)}), "--check"]), str(f), "is not a directory")
    assert_refused(run([*node_args(tmp_path, **{"num.partitions": "0"}), "--check"]), "'num.partitions'")


def _stderr_through_a_tty(args: list[str], env: dict[str, str]) -> bytes:
    master, slave = pty.openpty()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "NO_COLOR"))}
    proc = subprocess.Popen([str(runnel_bin()), *args], env={**base, **env}, stdout=subprocess.DEVNULL,
                            stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 10
    while b"runnel started" not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                out += os.read(master, 65536)
            except OSError:
                break
    proc.terminate()
    proc.wait(10)
    os.close(master)
    assert b"runnel started" in out, out
    return out


def test_no_color_is_honoured_on_a_terminal(tmp_path):
    coloured = _stderr_through_a_tty(node_args(tmp_path), {})
    assert b"\x1b[" in coloured
    plain = _stderr_through_a_tty(node_args(tmp_path), {"NO_COLOR": "1"})
    assert b"\x1b[" not in plain, plain[:300]


def test_startup_log_says_version_sources_dirs_listeners(tmp_path):
    """The advertised address (what trips Docker users) is printed beside
    the bind address; the metrics address and every log dir too."""
    port, mport = free_port(), free_port()
    args = node_args(tmp_path, listeners=f"PLAINTEXT://127.0.0.1:{port}",
                     **{"runnel.metrics.listener": f"127.0.0.1:{mport}"})
    text = _stderr_through_a_tty(args, {"NO_COLOR": "1",
                                        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://broker.example:19092"}).decode()
    assert re.search(r"runnel starting version=\S*\d+\.\d+\.\d+ \(commit \S+, built \S+\)", text), text
    assert re.search(r"configuration loaded sources=defaults, environment \(KAFKA_ADVERTISED_LISTENERS\), "
                     r"3 --override", text), text
    assert f"log dir dir={tmp_path / 'data'}" in text, text
    assert re.search(rf"listener=PLAINTEXT bind=127\.0\.0\.1:{port} advertised=broker\.example:19092", text), text
    assert f"metrics endpoint listening address=127.0.0.1:{mport}" in text, text


def test_healthcheck_pointed_at_the_metrics_port_says_so(broker_factory):
    mport = free_port()
    broker_factory({"runnel.metrics.listener": f"127.0.0.1:{mport}"})
    proc = run(["healthcheck", "--bootstrap", f"127.0.0.1:{mport}"])
    assert proc.returncode == 1, proc.stderr
    assert "speaks HTTP" in proc.stderr and "metrics port" in proc.stderr, proc.stderr
