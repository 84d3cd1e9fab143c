"""Fixtures for the Docker suite: the image built by `make docker`, compose
projects brought up from docker/compose/, and a kcat client image
(`make docker-client`) run as "another container".

Everything is real: the release binary in its image, Docker's networking and
port publishing, volumes, `docker stop`'s SIGTERM, and real clients. Each test
gets its own compose project (unique name, free host port) and removes it,
volumes included, when done.

Environment: DOCKER_IMAGE (default runnel:latest), DOCKER_CLIENT_IMAGE
(default runnel-kcat:local), DOCKER_COMPOSE (default: `docker compose` when
that works, else `docker-compose`). A missing image or engine is an error,
never a skip.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO_ROOT / "docker" / "compose"
IMAGE = os.environ.get("DOCKER_IMAGE", "runnel:latest")
CLIENT_IMAGE = os.environ.get("DOCKER_CLIENT_IMAGE", "runnel-kcat:local")
HEALTHY_TIMEOUT_S = 60.0
LOG_TAIL_LINES = 60


class DockerError(Exception):
    pass


def run(cmd: list[str], timeout: float = 120, check: bool = True, input: bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as e:
        raise DockerError(f"timed out after {timeout}s: {shlex.join(cmd)}\n"
                          f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}") from e
    if check and proc.returncode != 0:
        raise DockerError(f"exit {proc.returncode}: {shlex.join(cmd)}\n"
                          f"stdout: {proc.stdout.decode(errors='replace')}\n"
                          f"stderr: {proc.stderr.decode(errors='replace')}")
    return proc


def compose_command() -> list[str]:
    if "DOCKER_COMPOSE" in os.environ:
        return shlex.split(os.environ["DOCKER_COMPOSE"])
    if run(["docker", "compose", "version"], check=False, timeout=30).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Project:
    """One `docker compose` project from a file in docker/compose/."""

    def __init__(self, file: str, host_port: int):
        self.file = COMPOSE_DIR / file
        self.name = f"runnel-test-{uuid.uuid4().hex[:8]}"
        self.host_port = host_port
        self.env = {"RUNNEL_IMAGE": IMAGE, "RUNNEL_HOST_PORT": str(host_port)}
        self.compose = compose_command()

    @property
    def network(self) -> str:
        return f"{self.name}_default"

    @property
    def host_bootstrap(self) -> str:
        return f"localhost:{self.host_port}"

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [*self.compose, "-p", self.name, "-f", str(self.file), *args]
        return run(cmd, timeout=timeout, check=check, env=self.env)

    def up(self) -> None:
        self("up", "-d", timeout=180)

    def container(self, service: str) -> str:
        cid = self("ps", "-q", service).stdout.decode().strip()
        if not cid:
            raise DockerError(f"no container for {service} in {self.name}\n{self.logs(service)}")
        return cid

    def inspect(self, service: str) -> dict:
        out = run(["docker", "inspect", self.container(service)]).stdout
        return json.loads(out)[0]

    def wait_healthy(self, service: str, timeout: float = HEALTHY_TIMEOUT_S) -> None:
        """Waits for the image's own HEALTHCHECK (`runnel healthcheck`) to pass."""
        deadline = time.monotonic() + timeout
        state: dict = {}
        while time.monotonic() < deadline:
            state = self.inspect(service)["State"]
            if not state.get("Running"):
                raise DockerError(f"{service} is not running: {state}\n{self.logs(service)}")
            if state.get("Health", {}).get("Status") == "healthy":
                return
            time.sleep(0.5)
        raise DockerError(f"{service} not healthy after {timeout}s: {state.get('Health')}\n"
                          f"{self.logs(service)}")

    def logs(self, service: str) -> str:
        proc = self("logs", "--no-color", "--tail", str(LOG_TAIL_LINES), service, check=False)
        return proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")

    def down(self) -> None:
        self("down", "-v", "--remove-orphans", "-t", "20", check=False, timeout=120)


@pytest.fixture(scope="session", autouse=True)
def docker_ready():
    """The engine answers and both images exist; otherwise fail loudly."""
    run(["docker", "info"], timeout=60)
    for image in (IMAGE, CLIENT_IMAGE):
        if run(["docker", "image", "inspect", image], check=False, timeout=30).returncode != 0:
            raise DockerError(f"image {image} not found: run `make docker docker-client` "
                              "(or `make test-docker`, which builds both)")


@pytest.fixture
def project_factory(request):
    """Brings compose projects up; takes them down (volumes too) afterwards.
    A failing test gets each project's broker logs in its report."""
    projects: list[Project] = []

    def make(file: str) -> Project:
        p = Project(file, free_port())
        projects.append(p)
        p.up()
        return p

    yield make
    for p in projects:
        if getattr(request.node, "rep_call_failed", False):
            services = p("config", "--services", check=False).stdout.decode().split()
            for service in services:
                request.node.add_report_section("call", f"{p.name} {service} logs", p.logs(service))
        p.down()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.rep_call_failed = True


def kcat_container(args: list[str], network: str, input: bytes | None = None,
                   timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs kcat in its own container on `network` ("host" for the host's);
    removes the container even when it hangs."""
    name = f"runnel-kcat-{uuid.uuid4().hex[:8]}"
    cmd = ["docker", "run", "--rm", "--name", name, "--network", network]
    if input is not None:
        cmd.append("-i")
    cmd += [CLIENT_IMAGE, *args]
    try:
        return run(cmd, input=input, timeout=timeout)
    finally:
        run(["docker", "rm", "-f", name], check=False, timeout=30)


@pytest.fixture
def topic_name():
    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"
    return make
