"""Which timers a dossier's state calls for, and when they fire (working calendar and 24/7)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.processing import sla
from services.processing.models import Dossier, DossierStep
from services.processing.seed import seed_catalog
from shared.events import DossierStatus
from shared.working_time import VN_TZ, CalendarMode, WorkingCalendar

CATALOG = {procedure.code: procedure for procedure in seed_catalog(demo=True)}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN_TZ)


def dossier(status: DossierStatus, due: datetime | None, decided: datetime) -> Dossier:
    return Dossier(
        code="000.00.06.H56-231027-0001",
        procedure_code="1.004944",
        procedure_version=1,
        agency_code="000.00.06.H56",
        current_unit_code="H56.HC.VHXH",
        current_agency_code="000.00.06.H56",
        current_step_index=2,
        status=status,
        applicant={},
        documents=[],
        channel="online",
        submitted_at=decided,
        registered_at=decided,
        acceptance_due_at=decided,
        decided_at=decided,
        due_at=due,
        revision=7,
    )


def step(started: datetime, hours: float, calendar: WorkingCalendar) -> DossierStep:
    return DossierStep(
        dossier_code="000.00.06.H56-231027-0001",
        step_index=2,
        name="Thẩm định",
        unit_code="H56.HC.VHXH",
        agency_code="000.00.06.H56",
        allotted_hours=hours,
        started_at=started,
        due_at=calendar.deadline_after(started, hours),
    )


def test_a_running_step_arms_near_due_due_escalations_and_stalled_and_the_dossier_its_own() -> None:
    calendar = WorkingCalendar()
    procedure = CATALOG["1.004944"]  # 5 working days; escalation after 4 h and 8 h; stalled after 4 h
    started = at("2023-10-27 09:32")
    running = step(started, 16, calendar)  # two working days: due Tue 31/10 09:32
    case = dossier(DossierStatus.PROCESSING, at("2023-11-03 09:32"), started)
    timers = sla.plan(dossier=case, step=running, procedure=procedure, calendar=calendar, now=started)
    moments = {(timer.level, timer.kind, timer.rung): timer.fire_at for timer in timers}
    assert running.due_at == at("2023-10-31 09:32")
    # 20 % of 16 h is 3.2 h, less than 4 h: near due 3 h 12 min of working time before the due time.
    assert moments["step", "near_due", 0] == at("2023-10-30 16:20")
    assert moments["step", "due", 0] == at("2023-10-31 09:32")
    # The escalation ladder waits for the due time (see the next test).
    assert not [key for key in moments if key[1] == "escalation"]
    assert moments["step", "stalled", 0] == calendar.deadline_after(started, procedure.stall_hours)
    # The dossier's 40 h: 4 h (the cap) before Fri 03/11 09:32.
    assert moments["dossier", "near_due", 0] == at("2023-11-02 15:32")
    assert moments["dossier", "due", 0] == at("2023-11-03 09:32")
    assert all(timer.subject.startswith("sla.timer.000_00_06_H56-231027-0001.") for timer in timers)
    assert len({timer.subject for timer in timers}) == len(timers)


def test_a_waiting_or_resolved_dossier_arms_nothing() -> None:
    calendar = WorkingCalendar()
    started = at("2023-10-27 09:32")
    for status in (
        DossierStatus.WAITING,
        DossierStatus.RELEASING,
        DossierStatus.DONE,
        DossierStatus.CANCELLED,
    ):
        case = dossier(status, at("2023-11-03 09:32"), started)
        assert (
            sla.plan(
                dossier=case,
                step=step(started, 16, calendar),
                procedure=CATALOG["1.004944"],
                calendar=calendar,
                now=started,
            )
            == []
        )


def test_on_the_24_7_calendar_timers_are_exact_to_the_second() -> None:
    calendar = WorkingCalendar(CalendarMode.ALWAYS)
    procedure = CATALOG["DEMO-SLA"]
    started = at("2023-10-27 09:32")
    running = step(started, 1 / 60, calendar)  # one minute
    case = dossier(DossierStatus.PROCESSING, started + timedelta(minutes=10), started)
    moments = {
        (timer.level, timer.kind, timer.rung): timer.fire_at
        for timer in sla.plan(dossier=case, step=running, procedure=procedure, calendar=calendar, now=started)
    }
    assert moments["step", "near_due", 0] == started + timedelta(seconds=48)
    assert moments["step", "due", 0] == started + timedelta(minutes=1)
    later = {
        (timer.level, timer.kind, timer.rung): timer.fire_at
        for timer in sla.plan(
            dossier=case,
            step=running,
            procedure=procedure,
            calendar=calendar,
            now=started + timedelta(minutes=2),
        )
    }
    assert later["step", "escalation", 1] == started + timedelta(minutes=2)
    assert later["step", "escalation", 2] == started + timedelta(minutes=3)


def test_each_rung_of_the_escalation_ladder_is_planned_once_the_moment_before_it_has_passed() -> None:
    calendar = WorkingCalendar()
    procedure = CATALOG["1.004944"]  # escalation after 4 h and 8 h of working time past due
    started = at("2023-10-27 09:32")
    running = step(started, 16, calendar)
    case = dossier(DossierStatus.PROCESSING, at("2023-11-03 09:32"), started)
    assert running.due_at is not None
    first, second = (calendar.deadline_after(running.due_at, hours) for hours in procedure.escalation_hours)

    def rungs(now: datetime) -> dict[int, datetime]:
        timers = sla.plan(dossier=case, step=running, procedure=procedure, calendar=calendar, now=now)
        return {timer.rung: timer.fire_at for timer in timers if timer.kind == "escalation"}

    assert rungs(running.due_at - timedelta(minutes=1)) == {}
    assert rungs(running.due_at) == {1: first}
    assert rungs(first - timedelta(minutes=1)) == {1: first}
    assert rungs(first) == {1: first, 2: second}


def test_a_timer_is_scheduled_to_the_millisecond_never_early() -> None:
    [timer, *_] = sla.plan(
        dossier=dossier(DossierStatus.PROCESSING, None, at("2023-10-27 09:32")),
        step=step(at("2023-10-27 09:32:10.250"), 1 / 60, WorkingCalendar(CalendarMode.ALWAYS)),
        procedure=CATALOG["DEMO-SLA"],
        calendar=WorkingCalendar(CalendarMode.ALWAYS),
        now=at("2023-10-27 09:32"),
    )
    headers = timer.bus_headers()
    assert headers["Nats-Schedule"] == "@at 2023-10-27T02:32:58.250Z"
    assert headers["Nats-Schedule-Target"] == timer.target.replace("sla.timer.", "sla.fired.")
    later = timer.model_copy(update={"fire_at": timer.fire_at + timedelta(microseconds=1)})
    assert later.bus_headers()["Nats-Schedule"] == "@at 2023-10-27T02:32:58.251Z"
