"""How long each stream keeps its messages: what a dossier's legal life needs, no longer."""

from __future__ import annotations

import pytest

from shared.bus.streams import (
    ALERT,
    CATALOG,
    CITIZEN,
    DEAD_LETTER,
    DIRECTORY,
    DOSSIER,
    MAX_DELIVERIES,
    SLA,
    STREAMS,
    max_age_seconds,
)
from shared.settings import RetentionSettings

DAY = 24 * 3600.0


def test_streams_keep_dossier_events_for_years_and_dead_letters_for_months_by_default() -> None:
    retention = RetentionSettings()
    ages = {
        spec.name: spec.config(1, max_age_seconds=max_age_seconds(spec, retention)).max_age
        for spec in STREAMS
    }
    assert ages[DOSSIER.name] == ages[DIRECTORY.name] == 5 * 365 * DAY
    assert ages[DEAD_LETTER.name] == 90 * DAY
    assert ages[ALERT.name] == 365 * DAY
    # Procedure versions hold no personal data and dossiers refer to them for their whole life.
    assert ages[CATALOG.name] == 0
    # Timers must outlive their delay; one-time codes live minutes; advisories a week.
    assert ages[SLA.name] == 0
    assert ages[CITIZEN.name] == 600
    assert ages[MAX_DELIVERIES.name] == 7 * DAY


def test_stream_ages_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTCUA_RETENTION_DOSSIER_STREAM_DAYS", "3650")
    monkeypatch.setenv("MOTCUA_RETENTION_DEAD_LETTER_STREAM_DAYS", "30")
    retention = RetentionSettings()
    assert max_age_seconds(DOSSIER, retention) == 3650 * DAY
    assert max_age_seconds(DEAD_LETTER, retention) == 30 * DAY
    # Not settings: the code's own lifetime and the timers' need.
    assert max_age_seconds(CITIZEN, retention) == 600
    assert max_age_seconds(SLA, retention) == 0


def test_every_stream_keeps_a_message_longer_than_the_duplicate_window() -> None:
    retention = RetentionSettings()
    for spec in STREAMS:
        config = spec.config(1, max_age_seconds=max_age_seconds(spec, retention))
        assert config.max_age == 0 or config.max_age > (config.duplicate_window or 0), spec.name
