"""``motcua password USER``: an operator sets a staff member's password from a shell, read from the
terminal or standard input (never an argument), to be changed at the next sign-in. Service tier: the
command line in a process of its own on a SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.system import motcua


def password(tmp_path: Path, user: str, typed: str) -> subprocess.CompletedProcess[str]:
    env = {"MOTCUA_DATA_DIR": str(tmp_path), "MOTCUA_DEMO": "true"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "password", user, "--stdin"],
        input=f"{typed}\n",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_operator_sets_a_password_that_must_be_changed_and_weak_ones_are_refused(tmp_path: Path) -> None:
    weak = password(tmp_path, "demo-officer", "ngan")
    assert (
        weak.returncode == 2 and "at least 10 characters" in weak.stderr and "nothing changed" in weak.stderr
    )
    unknown = password(tmp_path, "nobody", "hoa-sen-2026-x")
    assert unknown.returncode == 1 and "user nobody not found" in unknown.stderr

    done = password(tmp_path, "demo-officer", "hoa-sen-2026-x")
    assert done.returncode == 0, done.stderr
    assert "hoa-sen-2026-x" not in done.stderr + done.stdout
    with sqlite3.connect(tmp_path / "processing.db") as connection:
        hashed, must_change = connection.execute(
            "SELECT password_hash, must_change FROM staff_credential WHERE username = 'demo-officer'"
        ).fetchone()
    assert hashed.startswith("$argon2id$") and must_change == 1
    assert motcua("password", "--help", env={}).returncode == 0
