"""Notify's copies end the same whatever order their events arrive in: an alert and the end of its
step or dossier, and the directory's changes of a person.

Service tier: notify's real handlers on a real database, fed through the runtime's own entry point
(with the inbox), without NATS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from services.notify.app import create_app
from services.notify.models import Alert, Notification, Person
from shared.events import (
    AlertNearDue,
    AlertOverdue,
    AlertRecipient,
    Applicant,
    DirectoryPersonChanged,
    DossierResultReturned,
    DossierStepCompleted,
    Event,
    SlaAlert,
    utc_now,
)
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings
from tests.conftest import DatabaseSettingsFactory

AGENCY = "000.00.06.H56"
UNIT = "H56.HC.MOTCUA"
START = utc_now().replace(microsecond=0)
_codes = count(1)


@pytest.fixture
async def notify(database_settings: DatabaseSettingsFactory, tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    common = CommonSettings(data_dir=tmp_path / "data")
    app = create_app(RuntimeSettings(common=common, database=database_settings("notify")))
    runtime: ServiceRuntime = app.state.runtime
    await upgrade(runtime.db, runtime.migrations)
    try:
        yield runtime
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()


@dataclass(frozen=True)
class Dossier:
    """One dossier's alerts and ends, as processing raises them, at its revisions."""

    code: str

    def alert(
        self, kind: type[AlertOverdue | AlertNearDue], *, step_index: int | None, revision: int, minute: int
    ) -> SlaAlert:
        at = START + timedelta(minutes=minute)
        return kind(
            dossier_code=self.code,
            version=revision,
            occurred_at=at,
            procedure_code="1.001193",
            procedure_name="Đăng ký khai sinh",
            level="dossier" if step_index is None else "step",
            step_index=step_index,
            step_name=None if step_index is None else f"Bước {step_index}",
            agency_code=AGENCY,
            unit_code=UNIT,
            owner="demo-officer",
            due_at=at,
            raised_at=at,
            recipients=[AlertRecipient(username="demo-officer", role="officer")],
        )

    def step_completed(self, step_index: int, *, revision: int, minute: int) -> DossierStepCompleted:
        at = START + timedelta(minutes=minute)
        return DossierStepCompleted(
            dossier_code=self.code,
            version=revision,
            occurred_at=at,
            step_index=step_index,
            step_name=f"Bước {step_index}",
            unit_code=UNIT,
            completed_by="demo-officer",
            completed_at=at,
            used_hours=1.5,
            allotted_hours=1.0,
        )

    def result_returned(self, *, revision: int, minute: int) -> DossierResultReturned:
        at = START + timedelta(minutes=minute)
        return DossierResultReturned(
            dossier_code=self.code,
            version=revision,
            occurred_at=at,
            procedure_code="1.001193",
            procedure_name="Đăng ký khai sinh",
            agency_name="UBND phường Hải Châu",
            applicant=Applicant(full_name="Nguyễn Văn An", id_number="049090001234"),
            received_at=START,
            returned_at=at,
            returned_by="demo-officer",
        )

    def story(self) -> list[Event]:
        """Reception overdue (rev 2), reception done (rev 3), the dossier near its due date (rev 3),
        the next step overdue and near due (rev 4), that step done (rev 5), the step after overdue
        (rev 5), the result returned (rev 7)."""
        return [
            self.alert(AlertOverdue, step_index=0, revision=2, minute=10),
            self.step_completed(0, revision=3, minute=20),
            self.alert(AlertNearDue, step_index=None, revision=3, minute=30),
            self.alert(AlertOverdue, step_index=1, revision=4, minute=40),
            self.alert(AlertNearDue, step_index=1, revision=4, minute=41),
            self.step_completed(1, revision=5, minute=50),
            self.alert(AlertOverdue, step_index=2, revision=5, minute=60),
            self.result_returned(revision=7, minute=90),
        ]


async def alert_states(runtime: ServiceRuntime, code: str) -> dict[str, tuple[Any, ...]]:
    async with runtime.db.reading() as session:
        rows = (await session.exec(select(Alert).where(Alert.dossier_code == code))).all()
    return {row.event_id: (row.status, row.resolved_at) for row in rows}


async def test_a_late_alert_for_a_step_already_done_is_stored_resolved(notify: ServiceRuntime) -> None:
    dossier = Dossier(f"000.00.06.H56-261202-{next(_codes):04d}")
    late = dossier.alert(AlertOverdue, step_index=0, revision=2, minute=10)
    done = dossier.step_completed(0, revision=3, minute=20)
    later_step = dossier.alert(AlertOverdue, step_index=1, revision=3, minute=25)
    await notify.deliver(done)
    await notify.deliver(late)
    await notify.deliver(later_step)
    states = await alert_states(notify, dossier.code)
    assert states[str(late.event_id)] == ("resolved", done.completed_at)
    # The next step's alert is about a step still running: the end of reception leaves it open.
    assert states[str(later_step.event_id)] == ("open", None)


async def test_an_alert_is_resolved_by_the_first_end_after_it_whichever_arrives_first(
    notify: ServiceRuntime,
) -> None:
    dossier = Dossier(f"000.00.06.H56-261202-{next(_codes):04d}")
    alert = dossier.alert(AlertNearDue, step_index=None, revision=3, minute=30)
    returned = dossier.result_returned(revision=7, minute=90)
    await notify.deliver(returned)
    await notify.deliver(alert)
    states = await alert_states(notify, dossier.code)
    assert states == {str(alert.event_id): ("resolved", returned.returned_at)}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_order_of_alerts_and_ends_with_redeliveries_gives_the_same_alert_states(
    notify: ServiceRuntime, data: st.DataObject
) -> None:
    dossier = Dossier(f"000.00.06.H56-261202-{next(_codes):04d}")
    events = dossier.story()
    order = list(data.draw(st.permutations(range(len(events))), label="order"))
    order += data.draw(st.lists(st.sampled_from(range(len(events))), max_size=3), label="again")
    for index in order:
        await notify.deliver(events[index])

    reception, near_due, overdue, near, next_step = (str(events[i].event_id) for i in (0, 2, 3, 4, 6))
    reception_done, step_done, returned = (events[i] for i in (1, 5, 7))
    assert isinstance(reception_done, DossierStepCompleted) and isinstance(step_done, DossierStepCompleted)
    assert isinstance(returned, DossierResultReturned)
    # Each alert is resolved by the first end of its step or dossier at or after its revision.
    assert await alert_states(notify, dossier.code) == {
        reception: ("resolved", reception_done.completed_at),
        near_due: ("resolved", returned.returned_at),
        overdue: ("resolved", step_done.completed_at),
        near: ("resolved", step_done.completed_at),
        next_step: ("resolved", returned.returned_at),
    }


async def test_notices_of_several_dossiers_in_one_batch_reach_each_applicant_once_on_each_channel(
    notify: ServiceRuntime,
) -> None:
    """As a consumer fetches them: the batch's messages are stored together, each applicant hears
    of their own dossier alone, and the same batch delivered again stores nothing more."""
    applicants = [
        Applicant(
            full_name="Nguyễn Văn An", id_number="049090001234", phone="0905123456", email="an@example.vn"
        ),
        Applicant(full_name="Lê Thị Hoa", id_number="049190004321"),
    ]
    returned = [
        Dossier(f"000.00.06.H56-261202-{next(_codes):04d}")
        .result_returned(revision=7, minute=90)
        .model_copy(update={"applicant": applicant})
        for applicant in applicants
    ]
    for _ in range(2):
        await notify.deliver_batch(returned)
    async with notify.db.reading() as session:
        rows = (
            await session.exec(
                select(Notification).where(
                    col(Notification.dossier_code).in_([e.dossier_code for e in returned])
                )
            )
        ).all()
    stored = sorted((row.dossier_code, row.recipient, row.channel) for row in rows)
    first, second = (event.dossier_code for event in returned)
    assert stored == sorted(
        [
            (first, "049090001234", "inbox"),
            (first, "0905123456", "sms"),
            (first, "an@example.vn", "email"),
            (second, "049190004321", "inbox"),
        ]
    )
    assert all(row.event_id == str(returned[row.dossier_code == second].event_id) for row in rows)


# -- the directory copy --------------------------------------------------------------------------
def person_changes(username: str) -> list[DirectoryPersonChanged]:
    """An officer moved to another unit, made a manager, then deactivated; two of the changes share
    a moment (a publication at start next to an edit)."""
    base: dict[str, Any] = {
        "username": username,
        "full_name": "Trần Thị Bình",
        "role": "officer",
        "agency_code": AGENCY,
        "unit_code": UNIT,
        "email": "binh@example.vn",
        "active": True,
    }
    moments = [START + timedelta(minutes=minutes) for minutes in (0, 5, 5, 9)]
    changes = [
        base,
        {**base, "unit_code": "H56.HC.TUPHAP"},
        {**base, "unit_code": "H56.HC.TUPHAP", "role": "manager"},
        {**base, "unit_code": "H56.HC.TUPHAP", "role": "manager", "active": False},
    ]
    pairs = zip(moments, changes, strict=True)
    return [DirectoryPersonChanged(occurred_at=at, **fields) for at, fields in pairs]


async def person(runtime: ServiceRuntime, username: str) -> tuple[Any, ...]:
    async with runtime.db.reading() as session:
        row = await session.get(Person, username)
    assert row is not None
    return (row.role, row.unit_code, row.active, row.changed_at)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_order_of_a_persons_changes_leaves_the_newest_in_the_directory_copy(
    notify: ServiceRuntime, data: st.DataObject
) -> None:
    changes = person_changes(f"officer-{next(_codes)}")
    order = data.draw(st.permutations(changes), label="order")
    for change in [*order, *data.draw(st.lists(st.sampled_from(changes), max_size=2), label="again")]:
        await notify.deliver(change)
    newest = changes[-1]
    assert await person(notify, newest.username) == ("manager", "H56.HC.TUPHAP", False, newest.occurred_at)


async def test_of_two_changes_at_one_moment_the_same_one_wins_whichever_arrives_last(
    notify: ServiceRuntime,
) -> None:
    """The greater event id wins a tie, so both orders end with the manager."""
    for username, ids, arrival in (("officer-tie-a", (10, 11), (0, 1)), ("officer-tie-b", (20, 21), (1, 0))):
        moved, promoted = (
            change.model_copy(update={"event_id": UUID(int=number)})
            for change, number in zip(person_changes(username)[1:3], ids, strict=True)
        )
        assert moved.occurred_at == promoted.occurred_at
        pair = (moved, promoted)
        for index in arrival:
            await notify.deliver(pair[index])
        assert (await person(notify, username))[:2] == ("manager", "H56.HC.TUPHAP")
