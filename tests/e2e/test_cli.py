"""The ``motcua`` command as an operator uses it: ``up``, ``token`` and ``dlq``."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nats

from shared.auth import verify_token
from shared.bus.streams import DEAD_LETTER, DOSSIER, ensure_streams
from shared.nats_server import NatsServer, free_port
from tests.system import motcua


def test_token_is_issued_for_directory_users_only(tmp_path: Path) -> None:
    env = {
        "MOTCUA_DATA_DIR": str(tmp_path),
        "MOTCUA_JWT_SECRET": "a-secret-of-the-operators-own-choosing",
        "MOTCUA_DEMO": "true",
    }
    issued = motcua("token", "demo-officer", env=env)
    assert issued.returncode == 0, issued.stderr
    assert verify_token(issued.stdout.strip(), secret=env["MOTCUA_JWT_SECRET"]) == "demo-officer"

    unknown = motcua("token", "nobody", env=env)
    assert unknown.returncode == 1
    assert "no active user 'nobody'" in unknown.stderr


def test_token_secret_is_generated_once_into_the_data_folder(tmp_path: Path) -> None:
    env = {"MOTCUA_DATA_DIR": str(tmp_path), "MOTCUA_DEMO": "true"}
    first = motcua("token", "demo-admin", env=env, unset=("MOTCUA_JWT_SECRET",))
    assert first.returncode == 0, first.stderr
    secret = (tmp_path / "jwt-secret").read_text().strip()
    assert len(secret) >= 32
    assert verify_token(first.stdout.strip(), secret=secret) == "demo-admin"
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600
    assert tmp_path.stat().st_mode & 0o777 == 0o700
    again = motcua("token", "demo-admin", env=env, unset=("MOTCUA_JWT_SECRET",))
    assert verify_token(again.stdout.strip(), secret=secret) == "demo-admin"


def test_a_known_or_short_secret_stops_the_command_with_one_line(tmp_path: Path) -> None:
    for secret, reason in (
        ("change-me-to-a-long-random-secret", "published example"),
        ("0123456789", "10 bytes long"),
        ("", "is empty"),
    ):
        refused = motcua(
            "token", "anyone", env={"MOTCUA_DATA_DIR": str(tmp_path), "MOTCUA_JWT_SECRET": secret}
        )
        assert refused.returncode == 2
        [line] = refused.stderr.strip().splitlines()
        assert reason in line and "MOTCUA_JWT_SECRET" in line


def test_an_empty_generated_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "jwt-secret").write_text("")
    refused = motcua(
        "serve", "processing", env={"MOTCUA_DATA_DIR": str(tmp_path)}, unset=("MOTCUA_JWT_SECRET",)
    )
    assert refused.returncode == 2
    assert "is empty" in refused.stderr and "jwt-secret" in refused.stderr


def test_admin_create_adds_an_admin_whose_change_waits_in_the_outbox_and_prints_its_token(
    tmp_path: Path,
) -> None:
    env = {"MOTCUA_DATA_DIR": str(tmp_path), "MOTCUA_JWT_SECRET": "a-secret-of-the-operators-own-choosing"}
    created = motcua(
        "admin", "create", "ops-admin", "--full-name", "Nguyễn Thị Quản", "--agency", "000.00.06.H56", env=env
    )
    assert created.returncode == 0, created.stderr
    assert verify_token(created.stdout.strip(), secret=env["MOTCUA_JWT_SECRET"]) == "ops-admin"
    with sqlite3.connect(tmp_path / "processing.db") as connection:
        person = connection.execute(
            "SELECT role, full_name, agency_code, active FROM person WHERE username = 'ops-admin'"
        ).fetchone()
        [payload] = connection.execute(
            "SELECT payload FROM outbox WHERE subject = 'directory.person.changed'"
        ).fetchone()
        demo = connection.execute("SELECT count(*) FROM person WHERE username LIKE 'demo-%'").fetchone()
    assert person == ("admin", "Nguyễn Thị Quản", "000.00.06.H56", 1)
    assert json.loads(payload)["username"] == "ops-admin"
    # Not the demo: the admin created is the only person in the directory.
    assert demo == (0,)

    again = motcua("admin", "create", "ops-admin", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = motcua("admin", "create", "Not A Username", env=env)
    assert bad.returncode == 2 and "username" in bad.stderr


async def test_dead_letters_are_listed_and_replayed_to_their_subject(nats_server: NatsServer) -> None:
    connection = await nats.connect(nats_server.url_for())
    try:
        js = connection.jetstream()
        await ensure_streams(js)
        body = b'{"type": "dossier.submitted", "broken": true}'
        await js.publish(
            "dlq.processing.processing__dossier_submitted",
            body,
            headers={
                "Nats-Msg-Id": "dead-1",
                "Motcua-Dead-Subject": "dossier.submitted",
                "Motcua-Dead-Consumer": "processing__dossier_submitted",
                "Motcua-Dead-Error": "ValueError('boom')",
                "Motcua-Dead-Deliveries": "6",
            },
        )
        env = {"MOTCUA_NATS_URL": nats_server.url_for()}
        listed = motcua("dlq", "list", env=env)
        assert listed.returncode == 0, listed.stderr
        [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert letter["subject"] == "dossier.submitted"
        assert letter["consumer"] == "processing__dossier_submitted"
        assert letter["deliveries"] == 6 and "boom" in letter["error"]

        assert motcua("dlq", "replay", env=env).returncode == 2
        missing = motcua("dlq", "replay", "999", env=env)
        assert missing.returncode == 1 and "999" in missing.stderr
        replayed = motcua("dlq", "replay", str(letter["sequence"]), env=env)
        assert replayed.returncode == 0, replayed.stderr

        assert (await js.stream_info(DEAD_LETTER.name)).state.messages == 0
        last = await js.get_last_msg(DOSSIER.name, "dossier.submitted")
        assert last.data == body
        assert "Motcua-Dead-Error" not in (last.headers or {})
        assert motcua("dlq", "list", env=env).stdout == ""
    finally:
        await connection.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_up_runs_the_whole_system_and_stops_it_on_ctrl_c(tmp_path: Path) -> None:
    ports = {service: free_port() for service in ("intake", "processing", "notify")}
    env = {
        **os.environ,
        "MOTCUA_DATA_DIR": str(tmp_path / "data"),
        "MOTCUA_NATS_PORT": str(free_port()),
        **{f"MOTCUA_{service.upper()}_PORT": str(port) for service, port in ports.items()},
    }
    for name in (
        "MOTCUA_INTAKE_DATABASE_URL",
        "MOTCUA_PROCESSING_DATABASE_URL",
        "MOTCUA_NOTIFY_DATABASE_URL",
    ):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        for port in ports.values():
            while not _answers(f"http://127.0.0.1:{port}/readyz"):
                assert time.monotonic() < deadline, f"port {port} never became ready"
                time.sleep(0.2)
        for service in ("intake", "processing", "notify"):
            assert (tmp_path / "data" / f"{service}.db").exists()
        assert (tmp_path / "data" / "nats").is_dir()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "motcua: stopped" in output
    assert not any(_answers(f"http://127.0.0.1:{port}/healthz") for port in ports.values())
