"""Which armed timer slots a new arm purges, why every arm has message ids of its own, and when what
the SLA stream holds counts as the dossier's current timers."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from services.processing import sla, sla_reconcile
from shared.events import (
    PURGE_HEADER,
    VERSION_HEADER,
    DossierStatus,
    SlaTimer,
    SlaTimersCancelled,
    subject_token,
)
from shared.working_time import VN_TZ, WorkingCalendar
from tests.unit.test_sla_plan import CATALOG, dossier, step

CODE = "000.00.06.H56-231027-0001"
BASE = "sla.timer.000_00_06_H56-231027-0001"
STEP = [
    "step.near_due.0",
    "step.due.0",
    "step.escalation.1",
    "step.escalation.2",
    "step.stalled.0",
]
DOSSIER = ["dossier.near_due.0", "dossier.due.0"]
# As slots were named before they lost the step's number: recorded on dossiers armed back then.
NUMBERED_STEP_0 = [slot.replace("step.", "step.0.") for slot in STEP]
NUMBERED_DOSSIER = [slot.replace("dossier.", "dossier.d.") for slot in DOSSIER]
MOMENT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def timer(kind: str = "due", *, version: int = 3, fire_at: datetime = MOMENT) -> SlaTimer:
    return SlaTimer(
        dossier_code=CODE, level="step", step_index=0, kind=kind, fire_at=fire_at, version=version
    )


def test_an_arm_of_the_same_slots_purges_nothing() -> None:
    assert sla.purge_filters(CODE, armed=STEP + DOSSIER, planned=STEP + DOSSIER) == []


def test_a_forward_arms_the_next_step_on_the_same_slots_and_purges_nothing() -> None:
    calendar = WorkingCalendar()
    started = datetime(2023, 10, 27, 9, 32, tzinfo=VN_TZ)
    case = dossier(DossierStatus.PROCESSING, started + timedelta(days=7), started)
    running = step(started, 16, calendar)
    following = step(started + timedelta(hours=2), 8, calendar)
    following.step_index = running.step_index + 1
    plans = [
        sla.plan(dossier=case, step=current, procedure=CATALOG["1.004944"], calendar=calendar, now=started)
        for current in (running, following)
    ]
    before_due = [slot for slot in STEP if ".escalation." not in slot] + DOSSIER
    assert [sorted(timer.slot for timer in plan) for plan in plans] == [sorted(before_due)] * 2
    assert {timer.step_index for timer in plans[1] if timer.level == "step"} == {following.step_index}
    forwarded = [timer.slot for timer in plans[1]]
    assert sla.purge_filters(CODE, armed=[timer.slot for timer in plans[0]], planned=forwarded) == []


def test_leaving_the_open_statuses_purges_every_timer_of_the_dossier_once() -> None:
    assert sla.purge_filters(CODE, armed=STEP + DOSSIER, planned=[]) == [f"{BASE}.>"]
    assert sla.purge_filters(CODE, armed=[], planned=[]) == []


def test_a_slot_dropped_beside_slots_that_stay_is_purged_alone() -> None:
    planned = [slot for slot in STEP if slot != "step.escalation.2"] + DOSSIER
    assert sla.purge_filters(CODE, armed=STEP + DOSSIER, planned=planned) == [f"{BASE}.step.escalation.2"]


def test_the_dossier_timers_dropped_while_a_step_runs_go_as_their_own_wildcard() -> None:
    assert sla.purge_filters(CODE, armed=STEP + DOSSIER, planned=STEP) == [f"{BASE}.dossier.>"]


def test_the_step_timers_dropped_when_no_step_is_timed_go_as_one_wildcard() -> None:
    assert sla.purge_filters(CODE, armed=STEP + DOSSIER, planned=DOSSIER) == [f"{BASE}.step.>"]


def test_slots_numbered_by_step_before_an_upgrade_are_purged_and_spare_todays() -> None:
    filters = sla.purge_filters(CODE, armed=NUMBERED_STEP_0 + NUMBERED_DOSSIER, planned=STEP + DOSSIER)
    assert filters == [f"{BASE}.dossier.d.>", f"{BASE}.step.0.>"]


def test_slots_not_recorded_purge_every_timer_of_the_dossier() -> None:
    assert sla.purge_filters(CODE, armed=None, planned=STEP) == [f"{BASE}.>"]


def test_the_purge_marker_names_each_filter_and_defaults_to_the_whole_dossier() -> None:
    some = SlaTimersCancelled(dossier_code=CODE, filters=[f"{BASE}.step.>", f"{BASE}.dossier.>"])
    assert some.bus_headers()[PURGE_HEADER].split() == [f"{BASE}.step.>", f"{BASE}.dossier.>"]
    assert SlaTimersCancelled(dossier_code=CODE).bus_headers()[PURGE_HEADER] == f"{BASE}.>"


def test_every_arm_gives_each_timer_a_message_id_of_its_own() -> None:
    planned = [timer("due"), timer("near_due")]
    first = sla.stamped(planned, revision=4)
    again = sla.stamped(planned, revision=4)
    ids = [item.event_id for item in first + again]
    assert len(set(ids)) == 4
    assert all(item.version == 4 for item in first + again)
    assert [item.model_dump(exclude={"event_id"}) for item in first] == [
        item.model_dump(exclude={"event_id"}) for item in again
    ]


def test_a_timer_carries_its_revision_in_a_header() -> None:
    assert timer(version=9).bus_headers()[VERSION_HEADER] == "9"


def armed_on_bus(*messages: tuple[str, dict[str, str]]) -> sla_reconcile.ArmedOnBus:
    return sla_reconcile.ArmedOnBus.from_headers(messages)


def test_the_stream_holds_a_timer_armed_at_its_revision_and_moment() -> None:
    current = timer(version=3)
    held = armed_on_bus((current.subject, current.bus_headers()))
    assert held.holds(current)


def test_a_timer_of_another_revision_or_moment_or_none_at_all_is_not_held() -> None:
    current = timer(version=3)
    older = timer(version=2)
    moved = timer(version=3, fire_at=MOMENT + timedelta(minutes=1))
    assert not armed_on_bus((older.subject, older.bus_headers())).holds(current)
    assert not armed_on_bus((moved.subject, moved.bus_headers())).holds(current)
    assert not armed_on_bus().holds(current)
    unversioned = {key: value for key, value in current.bus_headers().items() if key != VERSION_HEADER}
    assert not armed_on_bus((current.subject, unversioned)).holds(current)


def test_a_timer_that_fired_at_its_revision_counts_as_held() -> None:
    current = timer(version=3)
    assert armed_on_bus((current.target, {VERSION_HEADER: "3"})).holds(current)
    assert not armed_on_bus((current.target, {VERSION_HEADER: "2"})).holds(current)


def test_a_planned_timer_is_checked_at_the_dossiers_revision() -> None:
    planned = timer(version=0)  # as planned, before an arm stamps it
    held = armed_on_bus((planned.subject, timer(version=3).bus_headers()))
    assert held.holds(planned, revision=3)
    assert not held.holds(planned, revision=4)
    assert not held.holds(planned)


def test_a_moment_between_milliseconds_is_held_as_the_schedule_rounds_it_up() -> None:
    current = timer(fire_at=MOMENT + timedelta(microseconds=1_500))
    held = armed_on_bus((current.subject, current.bus_headers()))
    assert held.holds(current)
    assert held.holds(timer(fire_at=MOMENT + timedelta(microseconds=1_001)))  # also armed at .002
    assert not held.holds(timer(fire_at=MOMENT + timedelta(microseconds=1_000)))
    assert not held.holds(timer(fire_at=MOMENT + timedelta(microseconds=2_001)))


def test_every_timer_a_dossier_plans_is_held_once_its_arm_reached_the_stream() -> None:
    calendar = WorkingCalendar()
    started = datetime(2023, 10, 27, 9, 32, tzinfo=VN_TZ)
    case = dossier(DossierStatus.PROCESSING, datetime(2023, 11, 3, 9, 32, tzinfo=VN_TZ), started)
    running = step(started, 16, calendar)
    procedure = CATALOG["1.004944"]
    planned = sla.schedule(dossier=case, step=running, procedure=procedure, calendar=calendar, now=started)
    events = sla.plan(dossier=case, step=running, procedure=procedure, calendar=calendar, now=started)
    armed = sla.stamped(events, revision=case.revision)
    held = armed_on_bus(*((item.subject, item.bus_headers()) for item in armed))
    assert {item.level for item in planned} == {"step", "dossier"}
    token = subject_token(case.code)
    assert all(held.holds_planned(token, item, revision=case.revision) for item in planned)
    assert not any(held.holds_planned(token, item, revision=case.revision + 1) for item in planned)


async def test_what_the_stream_holds_is_read_as_it_arrives_and_kept_in_a_few_bytes_a_timer() -> None:
    timers = [timer(fire_at=MOMENT + timedelta(minutes=number)) for number in range(10_000)]
    timers = [
        item.model_copy(update={"dossier_code": f"{CODE}-{number}"}) for number, item in enumerate(timers)
    ]

    async def stream() -> AsyncIterator[tuple[str, dict[str, str]]]:
        for item in timers:
            yield item.subject, item.bus_headers()

    held = await sla_reconcile.ArmedOnBus.read(stream())
    assert all(held.holds(item) for item in timers)
    kept = sys.getsizeof(held.timers) + sys.getsizeof(held.fired)
    assert kept < 10 * len(timers)  # a dict of subjects would take some 150 bytes a timer


def test_a_schedule_the_reconciliation_cannot_read_holds_nothing_and_stops_nothing() -> None:
    current = timer(version=3)
    for schedule in ("@at 2026-12-02T09:30:00.000", "@every 1m", "@at someday"):
        headers = {**current.bus_headers(), "Nats-Schedule": schedule}
        assert not armed_on_bus((current.subject, headers)).holds(current)
