"""The JWT secret the services sign with, and the modes of what they keep on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.auth import InvalidToken, issue_token, verify_citizen_token, verify_token
from shared.private_files import create_private_file, private_dir
from shared.settings import AuthSettings, SecretError, checked_secret

GOOD = "k3J9-qL2vX8mN4pR7tY1wZ5aB6cD0eF9gH2"


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ("change-me-to-a-long-random-secret", "published example"),
        ("CHANGEME", "published example"),
        ("secret", "published example"),
        ("x" * 31, "31 bytes long"),
    ],
)
def test_an_empty_known_or_short_secret_is_refused_with_its_reason(secret: str, reason: str) -> None:
    with pytest.raises(SecretError, match=reason) as raised:
        checked_secret(secret, source="MOTCUA_JWT_SECRET")
    assert "MOTCUA_JWT_SECRET" in str(raised.value) and "\n" not in str(raised.value)


def test_a_long_random_secret_is_taken_as_it_is() -> None:
    assert checked_secret(f"{GOOD}\n", source="MOTCUA_JWT_SECRET") == GOOD
    # 32 bytes counted as bytes: 11 Vietnamese letters of 3 bytes each.
    assert checked_secret("ệ" * 11, source="MOTCUA_JWT_SECRET") == "ệ" * 11


def test_the_test_suites_secret_passes_the_rules() -> None:
    assert checked_secret(os.environ["MOTCUA_JWT_SECRET"], source="MOTCUA_JWT_SECRET")


def test_a_secret_from_an_environment_variable_is_checked() -> None:
    with pytest.raises(SecretError, match="published example"):
        AuthSettings(jwt_secret="change-me-to-a-long-random-secret").secret  # noqa: B018


def test_a_secret_file_wins_over_the_variable_and_is_checked(tmp_path: Path) -> None:
    secret_file = tmp_path / "jwt"
    secret_file.write_text(f"{GOOD}\n")
    assert AuthSettings(jwt_secret="short", jwt_secret_file=secret_file).secret == GOOD
    secret_file.write_text("")
    with pytest.raises(SecretError, match=f"the secret file {secret_file} is empty"):
        AuthSettings(jwt_secret_file=secret_file).secret  # noqa: B018
    with pytest.raises(SecretError, match="does not exist"):
        AuthSettings(jwt_secret_file=tmp_path / "missing").secret  # noqa: B018


def test_the_generated_secret_is_made_once_at_0600_in_a_0700_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(data))
    monkeypatch.delenv("MOTCUA_JWT_SECRET")
    # A umask that would leave both readable to everyone changes nothing.
    previous = os.umask(0)
    try:
        first = AuthSettings().secret
    finally:
        os.umask(previous)
    assert len(first) >= 32
    assert AuthSettings().secret == first
    assert (data / "jwt-secret").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700
    assert [path.name for path in data.iterdir()] == ["jwt-secret"]


def test_a_short_generated_secret_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MOTCUA_JWT_SECRET")
    (tmp_path / "jwt-secret").write_text("abc")
    with pytest.raises(SecretError, match=r"the generated secret file .* is 3 bytes long"):
        AuthSettings().secret  # noqa: B018


def test_a_private_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    assert create_private_file(path, "first")
    assert not create_private_file(path, "second")
    assert path.read_text() == "first"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [item.name for item in tmp_path.iterdir()] == ["secret"]


def test_an_existing_open_folder_is_made_private(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    assert private_dir(folder).stat().st_mode & 0o777 == 0o700
    assert private_dir(tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o700


def test_a_token_checked_against_an_unusable_key_is_invalid_not_an_error() -> None:
    token = issue_token("demo-admin", secret=GOOD)
    with pytest.raises(InvalidToken):
        verify_token(token, secret="")
    with pytest.raises(InvalidToken):
        verify_citizen_token(token, secret="")
    for malformed in ("", "a.b.c", "e30.e30.", "not a token", "\x00"):
        with pytest.raises(InvalidToken):
            verify_token(malformed, secret=GOOD)
