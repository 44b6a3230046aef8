"""What an officer may not do: move the legal due date (the apology letter is a manager's or a
leader's), act on a step a colleague claimed, or set a date that is past or more than a year away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.processing import domain
from shared.events import DossierStatus
from shared.staff import Staff
from shared.working_time import VN_TZ, WorkingCalendar

S = DossierStatus
NOW = datetime(2023, 11, 2, 10, 0, tzinfo=VN_TZ)


def actor(role: str, username: str = "someone") -> Staff:
    return Staff(username=username, role=role, agency_code="A", unit_code="U")


@pytest.mark.parametrize("role", ["manager", "leader"])
def test_a_manager_or_a_leader_may_issue_the_apology_letter(role: str) -> None:
    domain.check_role(actor(role), domain.Action.RESCHEDULE)


@pytest.mark.parametrize("role", ["officer", "admin"])
def test_an_officer_or_an_admin_may_not_move_the_due_date(role: str) -> None:
    with pytest.raises(domain.AccessDenied, match="manager or a leader"):
        domain.check_role(actor(role), domain.Action.RESCHEDULE)


def test_an_officer_may_not_act_on_a_step_a_colleague_claimed() -> None:
    with pytest.raises(domain.InvalidTransition, match="claimed by colleague"):
        domain.check_claimed_by(actor("officer", "me"), "colleague")
    domain.check_claimed_by(actor("officer", "me"), "me")
    domain.check_claimed_by(actor("officer", "me"), None)


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (NOW, "in the future"),
        (NOW - timedelta(minutes=1), "in the future"),
        (NOW + domain.FURTHEST_AHEAD + timedelta(seconds=1), "within 365 days"),
        (datetime(9999, 12, 31, tzinfo=UTC), "within 365 days"),
        (datetime(2023, 11, 10, 16, 0), "needs a timezone"),
    ],
)
def test_a_date_an_officer_sets_is_in_the_future_and_within_a_year(at: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        domain.check_ahead(at, now=NOW, what="the date")


def test_a_date_a_year_ahead_is_still_accepted() -> None:
    domain.check_ahead(NOW + domain.FURTHEST_AHEAD, now=NOW, what="the date")


def test_the_supplement_deadline_is_bounded_like_every_date() -> None:
    def request(deadline_at: datetime | None) -> list[str]:
        return domain.check_supplement_request(
            status=S.PROCESSING, items=["Giấy chứng sinh"], deadline_at=deadline_at, now=NOW
        )

    assert request(None) == ["Giấy chứng sinh"]
    assert request(NOW + timedelta(days=5)) == ["Giấy chứng sinh"]
    with pytest.raises(ValueError, match="within 365 days"):
        request(datetime(9999, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="in the future"):
        request(NOW - timedelta(days=1))
    with pytest.raises(ValueError, match="needs a timezone"):
        request(datetime(2023, 11, 10, 16, 0))


def test_a_new_appointment_more_than_a_year_away_is_refused() -> None:
    with pytest.raises(ValueError, match="new_due_at must be within 365 days"):
        domain.check_reschedule(
            status=S.PROCESSING,
            now=NOW,
            due_at=NOW + timedelta(days=1),
            new_due_at=datetime(9999, 12, 31, 10, 0, tzinfo=VN_TZ),
            rescheduled=False,
            calendar=WorkingCalendar(),
        )
