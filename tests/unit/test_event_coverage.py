"""Every event the citizen hears of reaches them whole: notify handles it, intake projects it into
the citizen's view, and notify ships a message for it in each language and channel.

The events come from ``shared.events``, where each is listed once; the handlers from each service's
own ``register_handlers``, recorded without running anything. A new citizen-visible event that
misses one of these fails here, before any walk through the system does.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.intake.handlers import register_handlers as register_intake
from services.notify.handlers import register_handlers as register_notify
from services.notify.messages.rendering import TemplateRenderer
from shared.events import CITIZEN_NOTICES, SLA_ALERTS, DossierStepAssigned, Event

LANGUAGES = ("vi", "en")
# The channels a citizen hears on that have words of their own; the inbox and the webhook use an
# event's common subject and body.
CITIZEN_CHANNELS = ("email", "sms")
TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "notify" / "templates"


class Recorder:
    """Stands in for ``ServiceRuntime`` while a service registers its handlers."""

    def __init__(self) -> None:
        self.handled: set[type[Event]] = set()
        # The database's kind, which sets how many loops some consumers run.
        self.db = SimpleNamespace(is_postgres=False, is_sqlite=True)

    def handle(self, event_type: type[Event], handler: Any, **_options: Any) -> None:
        self.handled.add(event_type)

    def provide(self, **_dependencies: Any) -> None:
        pass


def handled_by(register: Any, **arguments: Any) -> set[type[Event]]:
    recorder = Recorder()
    register(recorder, **arguments)
    return recorder.handled


def type_of(event: type[Event]) -> str:
    name: str = event.model_fields["type"].default
    return name


def test_the_citizen_notices_and_alerts_are_the_ones_the_event_list_has() -> None:
    assert len(CITIZEN_NOTICES) == 8
    assert len(SLA_ALERTS) == 4


@pytest.mark.parametrize("event", CITIZEN_NOTICES, ids=type_of)
def test_notify_handles_each_citizen_notice(event: type[Event]) -> None:
    assert event in handled_by(register_notify, couriers=object())


@pytest.mark.parametrize("event", SLA_ALERTS, ids=type_of)
def test_notify_handles_each_alert(event: type[Event]) -> None:
    assert event in handled_by(register_notify, couriers=object())


@pytest.mark.parametrize("event", CITIZEN_NOTICES, ids=type_of)
def test_intake_projects_each_citizen_notice_into_the_citizens_view(event: type[Event]) -> None:
    assert event in handled_by(register_intake)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", CITIZEN_NOTICES, ids=type_of)
def test_each_citizen_notice_has_its_words_in_each_language_and_channel(
    event: type[Event], language: str
) -> None:
    name = type_of(event)
    folder = TEMPLATES / language
    missing = [part for part in ("subject", "body") if not (folder / f"{name}.{part}.j2").is_file()]
    missing += [
        f"{channel}.body"
        for channel in CITIZEN_CHANNELS
        if not (folder / f"{name}.{channel}.body.j2").is_file()
    ]
    assert not missing, f"{language}/{name} lacks {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", (*SLA_ALERTS, DossierStepAssigned), ids=type_of)
def test_each_staff_message_has_a_subject_and_body_in_each_language(
    event: type[Event], language: str
) -> None:
    sources = TemplateRenderer().shipped_sources(type_of(event), language, "email")
    assert sources is not None, f"{language}/{type_of(event)} has no message"
    assert sources.subject.strip() and sources.body.strip()
