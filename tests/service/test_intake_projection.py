"""Intake's view of a dossier ends the same whatever order its events arrive in, and however often.

Service tier: intake's real handlers on a real database, fed through the runtime's own entry point
(with the inbox), without NATS. The event streams are what processing emits walking a birth
registration through its workflow, built with the real event classes and processing's revisions
(every event of one change carries the revision that change produced).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake import citizen_actions, views
from services.intake import submission as submitting
from services.intake.files import FileStore
from services.intake.handlers import register_handlers
from services.intake.migrations import history
from services.intake.models import Dossier, metadata
from services.intake.schemas import SubmissionIn, SupplementIn
from services.processing.seed import seed_catalog
from shared.errors import Conflict
from shared.events import (
    Applicant,
    CitizenRequest,
    DeclineReason,
    DocumentRef,
    DossierAccepted,
    DossierRefused,
    DossierRequestDeclined,
    DossierRescheduled,
    DossierResolved,
    DossierResultReturned,
    DossierStatus,
    DossierStepAssigned,
    DossierStepCompleted,
    DossierSupplementRequested,
    DossierWithdrawn,
    Event,
    ProcedurePublished,
    ProcedureVersion,
    utc_now,
)
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings
from tests.conftest import DatabaseSettingsFactory
from tests.system import submission

S = DossierStatus
BIRTH = next(procedure for procedure in seed_catalog(demo=True) if procedure.code == "1.001193")
OFFICER = "demo-officer"
ID_NUMBER = submission()["applicant"]["id_number"]
# Every walk starts here, after any submission of the test run, so both copies compared share times.
START = utc_now().replace(microsecond=0) + timedelta(hours=1)


@dataclass
class Walk:
    """What processing emits for one dossier, change by change."""

    code: str
    applicant: Applicant
    procedure: ProcedureVersion = BIRTH
    revision: int = 1
    moment: datetime = START
    due_at: datetime = START
    events: list[Event] = field(default_factory=list)

    def tick(self) -> datetime:
        self.moment += timedelta(minutes=7)
        return self.moment

    def notice(self) -> dict[str, Any]:
        return {
            "dossier_code": self.code,
            "procedure_code": self.procedure.code,
            "procedure_name": self.procedure.name,
            "agency_name": self.procedure.agency_name,
            "applicant": self.applicant,
            "received_at": START,
        }

    def change(self, *events: Event) -> None:
        """One change: a new revision, carried by each of its events (created one after another)."""
        self.revision += 1
        self.events.extend(self.stamped(event) for event in events)

    def stamped(self, event: Event) -> Event:
        return event.model_copy(update={"version": self.revision, "occurred_at": self.tick()})

    def assigned(
        self, index: int, status: DossierStatus, *, assignee: str | None = None, resumed: bool = False
    ) -> DossierStepAssigned:
        step = self.procedure.steps[index]
        return DossierStepAssigned(
            dossier_code=self.code,
            procedure_code=self.procedure.code,
            step_index=index,
            step_name=step.name,
            agency_code=self.procedure.agency_code,
            unit_code=step.unit_code,
            assignee=assignee,
            assigned_by=OFFICER,
            started_at=self.moment,
            due_at=self.moment + timedelta(hours=step.hours),
            dossier_status=status,
            dossier_due_at=self.due_at,
            resumed=resumed,
        )

    def completed(self, index: int) -> DossierStepCompleted:
        step = self.procedure.steps[index]
        return DossierStepCompleted(
            dossier_code=self.code,
            step_index=index,
            step_name=step.name,
            unit_code=step.unit_code,
            completed_by=OFFICER,
            completed_at=self.moment,
            used_hours=0.5,
            allotted_hours=step.hours,
        )

    # -- the officer's actions, as processing emits them ------------------------------------------
    def accept(self) -> None:
        self.due_at = self.moment + timedelta(days=5)
        self.change(
            DossierAccepted(
                **self.notice(),
                accepted_at=self.moment,
                due_at=self.due_at,
                accepted_by=OFFICER,
                late_acceptance=False,
            ),
            self.assigned(0, S.NEW, assignee=OFFICER),
        )

    def forward(self, index: int) -> None:
        self.change(self.completed(index), self.assigned(index + 1, S.PROCESSING))

    def claim(self, index: int) -> None:
        self.change(self.assigned(index, S.PROCESSING, assignee=OFFICER))

    def request_supplement(self) -> None:
        self.change(
            DossierSupplementRequested(
                **self.notice(),
                reason="Thiếu giấy chứng sinh",
                items=["Giấy chứng sinh"],
                deadline_at=self.moment + timedelta(days=5),
                requested_by=OFFICER,
            )
        )

    def supplement_provided(self, index: int) -> None:
        self.due_at += timedelta(days=1)
        self.change(self.assigned(index, S.PROCESSING, assignee=OFFICER, resumed=True))

    def reschedule(self) -> None:
        previous, self.due_at = self.due_at, self.due_at + timedelta(days=3)
        self.change(
            DossierRescheduled(
                **self.notice(),
                reason="Chờ xác minh",
                previous_due_at=previous,
                new_due_at=self.due_at,
                rescheduled_by=OFFICER,
                unit_code="H56.HC.TUPHAP",
            )
        )

    def resolve(self, index: int, outcome: Literal["approved", "rejected"]) -> None:
        self.change(
            self.completed(index),
            DossierResolved(
                **self.notice(),
                outcome=outcome,
                result=DocumentRef(name="Giấy khai sinh") if outcome == "approved" else None,
                reason="Không đủ điều kiện" if outcome == "rejected" else None,
                resolved_at=self.moment,
                resolved_by=OFFICER,
                due_at=self.due_at,
                timeliness="early",
            ),
            self.assigned(index + 1, S.RELEASING),
        )

    def return_result(self, index: int) -> None:
        self.change(
            self.completed(index),
            DossierResultReturned(**self.notice(), returned_at=self.moment, returned_by=OFFICER),
        )

    def withdraw(self, index: int) -> None:
        self.change(
            self.completed(index),
            DossierWithdrawn(**self.notice(), withdrawn_at=self.moment, reason="Nộp nhầm thủ tục"),
        )

    def refuse(self) -> None:
        self.change(
            DossierRefused(
                **self.notice(), refused_at=self.moment, refused_by=OFFICER, reason="Quá hạn bổ sung"
            )
        )

    def declined(
        self,
        request: CitizenRequest,
        reason: DeclineReason,
        status: DossierStatus,
        *,
        requested_at: datetime | None = None,
    ) -> DossierRequestDeclined:
        """Processing could not act on the citizen's request: no change, the same revision."""
        event = DossierRequestDeclined(
            **self.notice(),
            version=self.revision,
            occurred_at=self.tick(),
            request=request,
            request_event_id=uuid4(),
            requested_at=requested_at or self.moment,
            declined_at=self.moment,
            reason=reason,
            dossier_status=status,
        )
        self.events.append(event)
        return event


def approved_after_a_supplement(walk: Walk) -> None:
    walk.accept()
    walk.forward(0)
    walk.claim(1)
    walk.request_supplement()
    walk.supplement_provided(1)
    walk.forward(1)
    walk.forward(2)
    walk.resolve(3, "approved")
    walk.return_result(4)


def rescheduled(walk: Walk) -> None:
    walk.accept()
    walk.forward(0)
    walk.claim(1)
    walk.reschedule()
    walk.request_supplement()
    walk.supplement_provided(1)
    walk.forward(1)
    walk.forward(2)
    walk.resolve(3, "approved")
    walk.return_result(4)


def rejected_then_a_late_withdrawal(walk: Walk) -> None:
    walk.accept()
    walk.forward(0)
    walk.request_supplement()
    walk.supplement_provided(1)
    walk.forward(1)
    walk.forward(2)
    walk.resolve(3, "rejected")
    walk.return_result(4)
    walk.declined("withdrawal", "already_resolved", S.DONE)


def withdrawn_while_waiting(walk: Walk) -> None:
    walk.accept()
    walk.forward(0)
    walk.claim(1)
    walk.request_supplement()
    walk.withdraw(1)


SCENARIOS: dict[str, Callable[[Walk], None]] = {
    "approved": approved_after_a_supplement,
    "rescheduled": rescheduled,
    "rejected": rejected_then_a_late_withdrawal,
    "withdrawn": withdrawn_while_waiting,
}


@dataclass
class Intake:
    runtime: ServiceRuntime
    store: FileStore
    in_order: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def submit(self) -> Walk:
        async with self.runtime.db.session() as session:
            dossier, _ = await submitting.submit(
                session,
                self.runtime.outbox,
                self.store,
                submission=SubmissionIn.model_validate(submission()),
                idempotency_key=None,
            )
            return Walk(code=dossier.code, applicant=Applicant.model_validate(submission()["applicant"]))

    async def deliver(self, events: list[Event]) -> None:
        for event in events:
            await self.runtime.deliver(event)

    async def view(self, code: str) -> dict[str, Any]:
        """The citizen's view, less what differs between two submissions of the same dossier."""
        async with self.runtime.db.reading() as session:
            dossier = await session.get(Dossier, code)
            assert dossier is not None
            view = (await views.citizen_view(session, dossier)).model_dump(mode="json")
            # The look-up the citizen's API serves, on the driver, shows the same.
            looked_up = await views.look_up(session, code=code, id_number=dossier.id_number)
            assert looked_up is not None and looked_up.model_dump(mode="json") == view
        submitted, *rest = view.pop("history")
        assert submitted["event_type"] == "dossier.submitted"
        documents = [{**document, "added_at": None} for document in view.pop("documents")]
        return {**view, "code": None, "submitted_at": None, "documents": documents, "history": rest}

    async def walked_in_order(self, scenario: str) -> dict[str, Any]:
        if scenario not in self.in_order:
            walk = await self.submit()
            SCENARIOS[scenario](walk)
            await self.deliver(walk.events)
            self.in_order[scenario] = await self.view(walk.code)
        return self.in_order[scenario]


@pytest.fixture
async def intake(database_settings: DatabaseSettingsFactory, tmp_path: Path) -> AsyncIterator[Intake]:
    common = CommonSettings(data_dir=tmp_path / "data")
    runtime = ServiceRuntime(
        "intake",
        metadata,
        RuntimeSettings(common=common, database=database_settings("intake")),
        migrations=history,
    )
    register_handlers(runtime)
    await upgrade(runtime.db, history)
    await runtime.deliver(ProcedurePublished(procedure=BIRTH))
    try:
        yield Intake(runtime, FileStore(tmp_path / "files"))
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()


async def test_the_walk_in_order_ends_with_the_result_its_dates_and_every_step_in_the_timeline(
    intake: Intake,
) -> None:
    view = await intake.walked_in_order("approved")
    assert (view["status"], view["result_name"], view["timeliness"]) == (10, "Giấy khai sinh", "early")
    assert view["resolved_at"] is not None and view["returned_at"] is not None
    assert view["current_step"] is None
    assert [(row["event_type"], row["status"]) for row in view["history"]] == [
        ("dossier.accepted", 2),
        ("dossier.supplement.requested", 5),
        ("dossier.step.assigned", 4),
        ("dossier.resolved", 9),
        ("dossier.result.returned", 10),
    ]
    rescheduled = await intake.walked_in_order("rescheduled")
    apology = next(row for row in rescheduled["history"] if row["event_type"] == "dossier.rescheduled")
    assert apology["status"] == 4  # the status the dossier had when the letter was issued
    withdrawn = await intake.walked_in_order("rejected")
    assert (withdrawn["status"], withdrawn["withdrawal_requested_at"]) == (10, None)
    assert withdrawn["history"][-1]["event_type"] == "dossier.request.declined"
    assert "đã được giải quyết" in withdrawn["history"][-1]["note"]


@st.composite
def deliveries(draw: st.DrawFn, count: int) -> list[int]:
    """Indices of ``count`` events: each once in any order, and some delivered again anywhere."""
    order = list(draw(st.permutations(range(count))))
    repeats = draw(st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, count)), max_size=4))
    for index, position in repeats:
        order.insert(position, index)
    return order


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=st.sampled_from(sorted(SCENARIOS)), data=st.data())
async def test_any_order_of_a_dossiers_events_with_redeliveries_gives_the_in_order_view(
    intake: Intake, scenario: str, data: st.DataObject
) -> None:
    expected = await intake.walked_in_order(scenario)
    walk = await intake.submit()
    SCENARIOS[scenario](walk)
    order = data.draw(deliveries(len(walk.events)), label="order")
    await intake.deliver([walk.events[index] for index in order])
    assert await intake.view(walk.code) == expected


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=st.sampled_from(sorted(SCENARIOS)), data=st.data())
async def test_events_applied_in_batches_of_several_dossiers_give_the_in_order_view(
    intake: Intake, scenario: str, data: st.DataObject
) -> None:
    """As a consumer fetches them: two dossiers' events of one type in one transaction, their
    dossiers locked and their status changes written together, the types in any order."""
    expected = await intake.walked_in_order(scenario)
    walks = [await intake.submit(), await intake.submit()]
    by_type: dict[str, list[Event]] = {}
    for walk in walks:
        SCENARIOS[scenario](walk)
        for event in walk.events:
            by_type.setdefault(event.type, []).append(event)
    for event_type in data.draw(st.permutations(sorted(by_type)), label="types"):
        events = by_type[event_type]
        batch = data.draw(st.permutations(events), label=event_type)
        await intake.runtime.deliver_batch(batch)
    for walk in walks:
        assert await intake.view(walk.code) == expected


# -- intake's own records of the citizen's requests ----------------------------------------------------
async def send_supplement(intake: Intake, code: str) -> None:
    async with intake.runtime.db.session() as session:
        dossier = await views.find_for_citizen(session, code=code, id_number=ID_NUMBER, for_update=True)
        assert dossier is not None
        supplement = SupplementIn(documents=[{"name": "Giấy chứng sinh"}])
        await citizen_actions.provide_supplement(
            session, intake.runtime.outbox, intake.store, dossier=dossier, supplement=supplement
        )


async def ask_withdrawal(intake: Intake, code: str) -> datetime:
    async with intake.runtime.db.session() as session:
        dossier = await views.find_for_citizen(session, code=code, id_number=ID_NUMBER, for_update=True)
        assert dossier is not None
        await citizen_actions.request_withdrawal(session, intake.runtime.outbox, dossier=dossier, reason=None)
        assert dossier.withdrawal_requested_at is not None
        return dossier.withdrawal_requested_at


async def rate(intake: Intake, code: str) -> datetime:
    async with intake.runtime.db.session() as session:
        dossier = await views.find_for_citizen(session, code=code, id_number=ID_NUMBER, for_update=True)
        assert dossier is not None
        await citizen_actions.rate(
            session, intake.runtime.outbox, dossier=dossier, rating="satisfied", reason=None
        )
        assert dossier.rated_at is not None
        return dossier.rated_at


async def waiting_for_a_supplement(intake: Intake) -> Walk:
    walk = await intake.submit()
    walk.accept()
    walk.forward(0)
    walk.request_supplement()
    await intake.deliver(walk.events)
    return walk


async def test_one_supplement_per_request_until_processing_asks_again(intake: Intake) -> None:
    walk = await waiting_for_a_supplement(intake)
    await send_supplement(intake, walk.code)
    assert (await intake.view(walk.code))["supplement_provided_at"] is not None
    with pytest.raises(Conflict, match="already sent"):
        await send_supplement(intake, walk.code)

    # Processing took it in, then asks for more: a new request takes a new supplement.
    sent = len(walk.events)
    walk.supplement_provided(1)
    walk.request_supplement()
    await intake.deliver(walk.events[sent:])
    await send_supplement(intake, walk.code)
    with pytest.raises(Conflict, match="already sent"):
        await send_supplement(intake, walk.code)


async def test_a_declined_supplement_is_undone_and_the_dossier_shows_processings_status(
    intake: Intake,
) -> None:
    walk = await waiting_for_a_supplement(intake)
    await send_supplement(intake, walk.code)
    # Processing refused the dossier (the supplement came too late); the answer overtakes the refusal.
    walk.refuse()
    refusal = walk.events[-1]
    await intake.deliver([walk.declined("supplement", "not_awaited", S.DENIED)])
    view = await intake.view(walk.code)
    assert (view["status"], view["supplement_provided_at"]) == (3, None)
    assert view["history"][-1]["event_type"] == "dossier.request.declined"
    assert "không còn chờ bổ sung" in view["history"][-1]["note"]
    await intake.deliver([refusal])
    assert (await intake.view(walk.code))["status"] == 3


async def test_the_answer_to_an_older_supplement_keeps_the_record_of_a_later_one(intake: Intake) -> None:
    walk = await waiting_for_a_supplement(intake)
    declined = walk.declined("supplement", "not_awaited", S.NEW)
    walk.events.pop()
    sent = len(walk.events)
    walk.supplement_provided(0)
    walk.request_supplement()
    await intake.deliver(walk.events[sent:])
    await send_supplement(intake, walk.code)
    await intake.deliver([declined])
    assert (await intake.view(walk.code))["supplement_provided_at"] is not None
    with pytest.raises(Conflict, match="already sent"):
        await send_supplement(intake, walk.code)


async def test_a_withdrawal_declined_after_the_result_leaves_the_result_whatever_arrives_first(
    intake: Intake,
) -> None:
    walk = await intake.submit()
    approved_after_a_supplement(walk)
    lagging = walk.events[:12]  # the copy has heard of nothing of the resolution yet
    await intake.deliver(lagging)
    assert (await intake.view(walk.code))["status"] == 4
    requested_at = await ask_withdrawal(intake, walk.code)
    declined = walk.declined("withdrawal", "already_resolved", S.DONE, requested_at=requested_at)
    await intake.deliver([declined])
    view = await intake.view(walk.code)
    assert (view["status"], view["withdrawal_requested_at"]) == (10, None)
    assert "kết quả giải quyết được giữ nguyên" in view["history"][-1]["note"]
    await intake.deliver(walk.events[12:])
    view = await intake.view(walk.code)
    assert (view["status"], view["result_name"]) == (10, "Giấy khai sinh")
    assert view["withdrawal_requested_at"] is None
    assert view["history"][-1]["event_type"] == "dossier.request.declined"


async def test_a_rating_processing_cannot_apply_is_undone_unless_it_holds_one_already(
    intake: Intake,
) -> None:
    walk = await intake.submit()
    approved_after_a_supplement(walk)
    await intake.deliver(walk.events)
    rated_at = await rate(intake, walk.code)
    await intake.deliver([walk.declined("rating", "already_rated", S.DONE, requested_at=rated_at)])
    assert (await intake.view(walk.code))["rating"] == "satisfied"
    await intake.deliver([walk.declined("rating", "not_returned", S.DONE, requested_at=rated_at)])
    view = await intake.view(walk.code)
    assert (view["rating"], view["rated_at"]) == (None, None)
