"""The dossier rules as plain functions: supplement clocks, timeliness, apology letters, transitions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.processing import clocks, domain
from services.processing.seed import seed_catalog
from shared.events import DossierStatus
from shared.working_time import VN_TZ, WorkingCalendar

S = DossierStatus
CALENDAR = WorkingCalendar()
# 5 working days, 7 steps
PROCEDURE = next(item for item in seed_catalog(demo=True) if item.code == "1.004944")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN_TZ)


def test_supplement_pause_across_a_weekend_moves_both_due_dates_by_the_waiting_time() -> None:
    paused, provided = at("2023-10-27 16:00"), at("2023-10-31 08:30")  # Fri 16:00 → Tue 08:30
    dossier_due, step_due = at("2023-11-02 10:00"), at("2023-10-30 09:00")
    resumed = clocks.resume(
        policy="pause",
        paused_at=paused,
        now=provided,
        dossier_due_at=dossier_due,
        step_due_at=step_due,
        procedure=PROCEDURE,
        step_hours=16,
        calendar=CALENDAR,
    )
    # Fri 16:00–17:00 (1 h) + Mon (8 h) + Tue 07:00–08:30 (1.5 h)
    assert resumed.paused_hours == 10.5
    assert resumed.dossier_due_at is not None and resumed.step_due_at is not None
    assert CALENDAR.working_hours_between(dossier_due, resumed.dossier_due_at) == 10.5
    assert CALENDAR.working_hours_between(step_due, resumed.step_due_at) == 10.5
    assert resumed.dossier_due_at == at("2023-11-03 13:30") + timedelta(hours=1)


def test_supplement_pause_across_national_day_does_not_count_the_holiday() -> None:
    paused, provided = at("2023-08-31 15:00"), at("2023-09-05 08:00")  # Thu → Tue; Fri 1 and Mon 4 Sep off
    resumed = clocks.resume(
        policy="pause",
        paused_at=paused,
        now=provided,
        dossier_due_at=at("2023-08-31 16:30"),
        step_due_at=None,
        procedure=PROCEDURE,
        step_hours=8,
        calendar=CALENDAR,
    )
    assert resumed.paused_hours == 3  # Thu 15:00–17:00 and Tue 07:00–08:00
    # 30 minutes left on Thursday, then 2.5 hours on Tuesday: the holidays do not count.
    assert resumed.dossier_due_at == at("2023-09-05 09:30")
    assert resumed.step_due_at is None


def test_supplement_restart_gives_the_whole_time_limit_again_from_the_supplement() -> None:
    provided = at("2023-11-06 09:00")
    resumed = clocks.resume(
        policy="restart",
        paused_at=at("2023-11-01 09:00"),
        now=provided,
        dossier_due_at=at("2023-11-03 09:00"),
        step_due_at=at("2023-11-02 09:00"),
        procedure=PROCEDURE,
        step_hours=16,
        calendar=CALENDAR,
    )
    assert resumed.restart_step
    assert resumed.dossier_due_at == CALENDAR.deadline_after(provided, PROCEDURE.total_hours)
    assert resumed.dossier_due_at == at("2023-11-13 09:00")
    assert resumed.step_due_at == at("2023-11-08 09:00")


@pytest.mark.parametrize(
    ("resolved", "rescheduled", "expected"),
    [
        ("2023-11-02 16:00", False, "early"),
        ("2023-11-03 08:00", False, "on_time"),
        ("2023-11-03 09:32", False, "on_time"),
        ("2023-11-03 09:33", False, "late"),
        ("2023-11-02 16:00", True, "late"),
    ],
)
def test_resolution_is_early_on_time_or_late_against_the_due_date(
    resolved: str, rescheduled: bool, expected: str
) -> None:
    due = at("2023-11-03 09:32")
    assert clocks.timeliness(resolved_at=at(resolved), due_at=due, rescheduled=rescheduled) == expected


def test_apology_letter_only_once_before_the_due_date_and_to_a_later_working_day() -> None:
    due, now = at("2023-11-03 09:32"), at("2023-11-02 10:00")

    def check(**overrides: object) -> None:
        arguments: dict[str, object] = {
            "status": S.PROCESSING,
            "now": now,
            "due_at": due,
            "new_due_at": at("2023-11-07 10:00"),
            "rescheduled": False,
            "calendar": CALENDAR,
        }
        domain.check_reschedule(**{**arguments, **overrides})  # type: ignore[arg-type]

    check()
    with pytest.raises(domain.InvalidTransition, match="once"):
        check(rescheduled=True)
    with pytest.raises(domain.InvalidTransition, match="before the due date"):
        check(now=at("2023-11-03 10:00"))
    with pytest.raises(ValueError, match="later"):
        check(new_due_at=at("2023-11-03 09:00"))
    with pytest.raises(ValueError, match="day off"):
        check(new_due_at=at("2023-11-04 10:00"))  # a Saturday
    with pytest.raises(domain.InvalidTransition, match="releasing"):
        check(status=S.RELEASING)


def test_forward_stops_at_the_last_processing_step_and_approve_happens_there() -> None:
    last = domain.last_processing_step(PROCEDURE)
    assert PROCEDURE.steps[last + 1].name == "Trả kết quả"
    assert domain.check_forward(status=S.PROCESSING, step_index=0, procedure=PROCEDURE) == 1
    with pytest.raises(domain.InvalidTransition, match="approve or reject"):
        domain.check_forward(status=S.PROCESSING, step_index=last, procedure=PROCEDURE)
    with pytest.raises(domain.InvalidTransition, match="last processing step"):
        domain.check_resolve(
            status=S.PROCESSING, step_index=1, procedure=PROCEDURE, action=domain.Action.APPROVE
        )
    domain.check_resolve(status=S.PROCESSING, step_index=1, procedure=PROCEDURE, action=domain.Action.REJECT)
    with pytest.raises(domain.InvalidTransition, match="cannot forward"):
        domain.check_forward(status=S.WAITING, step_index=0, procedure=PROCEDURE)


def test_refusal_of_a_waiting_dossier_only_after_its_supplement_deadline() -> None:
    deadline = at("2023-11-10 17:00")
    with pytest.raises(domain.InvalidTransition, match="after its deadline"):
        domain.refuse(
            status=S.WAITING,
            reason="Quá hạn bổ sung",
            now=at("2023-11-10 16:00"),
            supplement_deadline_at=deadline,
        )
    assert (
        domain.refuse(
            status=S.WAITING,
            reason=" Quá hạn bổ sung ",
            now=at("2023-11-13 07:00"),
            supplement_deadline_at=deadline,
        )
        == "Quá hạn bổ sung"
    )
    with pytest.raises(ValueError, match="reason"):
        domain.refuse(
            status=S.RECEIVING, reason="  ", now=at("2023-11-13 07:00"), supplement_deadline_at=None
        )


def test_revision_mismatch_is_a_conflict() -> None:
    domain.require_revision(4, None)
    domain.require_revision(4, 4)
    with pytest.raises(domain.InvalidTransition, match="revision 3, now 4"):
        domain.require_revision(4, 3)
