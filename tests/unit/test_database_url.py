"""The database URLs operators write are taken with the drivers the services run on; others are
refused in one line that names the variable, the accepted forms and nothing secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from services import cli
from shared.settings import (
    CommonSettings,
    DatabaseUrlError,
    NotifyDatabaseSettings,
    ProcessingDatabaseSettings,
    driver_url,
)


@pytest.mark.parametrize(
    ("written", "used"),
    [
        ("postgresql://motcua@db.example.vn/motcua", "postgresql+asyncpg://motcua@db.example.vn/motcua"),
        ("postgres://motcua:s3cret@db:5432/motcua", "postgresql+asyncpg://motcua:s3cret@db:5432/motcua"),
        ("POSTGRESQL://motcua@db/motcua", "postgresql+asyncpg://motcua@db/motcua"),
        ("postgresql+asyncpg://motcua@db/motcua", "postgresql+asyncpg://motcua@db/motcua"),
        ("sqlite:///data/intake.db", "sqlite+aiosqlite:///data/intake.db"),
        ("sqlite:////var/lib/motcua/intake.db", "sqlite+aiosqlite:////var/lib/motcua/intake.db"),
        ("sqlite+aiosqlite:///data/intake.db", "sqlite+aiosqlite:///data/intake.db"),
    ],
)
def test_common_database_urls_take_the_async_driver(written: str, used: str) -> None:
    assert driver_url(written, variable="MOTCUA_INTAKE_DATABASE_URL") == used


@pytest.mark.parametrize(
    "written",
    [
        "mysql://motcua:s3cret@db/motcua",
        "postgresql+psycopg2://motcua:s3cret@db/motcua",
        "motcua:s3cret@db/motcua",
        "",
    ],
)
def test_a_url_naming_no_supported_database_is_refused_in_one_line_without_its_secrets(written: str) -> None:
    with pytest.raises(DatabaseUrlError) as refused:
        driver_url(written, variable="MOTCUA_NOTIFY_DATABASE_URL")
    message = str(refused.value)
    assert message.startswith("MOTCUA_NOTIFY_DATABASE_URL names no supported database")
    assert "postgresql://" in message and "sqlite:///" in message
    assert "\n" not in message and "s3cret" not in message


def test_each_service_names_its_own_variable() -> None:
    with pytest.raises(DatabaseUrlError, match=r"^MOTCUA_PROCESSING_DATABASE_URL "):
        ProcessingDatabaseSettings(database_url="mysql://db/motcua").url(CommonSettings())
    assert (
        NotifyDatabaseSettings(database_url="postgres://db/motcua").url(CommonSettings())
        == "postgresql+asyncpg://db/motcua"
    )


def test_motcua_refuses_a_bad_database_url_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MOTCUA_INTAKE_DATABASE_URL", "mysql://motcua:s3cret@db/motcua")

    assert cli.main(["serve", "intake"]) == 2
    assert cli.main(["db", "upgrade"]) == 2

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("motcua: MOTCUA_INTAKE_DATABASE_URL names no supported") for line in lines)
