"""When the daily digest falls due: the latest digest time, Vietnam time, at or before now."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from services.notify.settings import DigestSettings
from services.notify.staff.digest import digest_event_id, latest_digest_moment

AT_0730 = DigestSettings(at=time(7, 30))


@pytest.mark.parametrize(
    ("now_utc", "expected_utc"),
    [
        # 07:29 in Hà Nội is before today's digest: yesterday's is the latest.
        (datetime(2026, 11, 27, 0, 29, tzinfo=UTC), datetime(2026, 11, 26, 0, 30, tzinfo=UTC)),
        # 07:30 sharp is today's.
        (datetime(2026, 11, 27, 0, 30, tzinfo=UTC), datetime(2026, 11, 27, 0, 30, tzinfo=UTC)),
        # 23:30 UTC is already 06:30 the next morning in Vietnam: still that day's 07:30 to come.
        (datetime(2026, 11, 27, 23, 30, tzinfo=UTC), datetime(2026, 11, 27, 0, 30, tzinfo=UTC)),
    ],
)
def test_the_latest_digest_moment_is_counted_in_vietnam_time(
    now_utc: datetime, expected_utc: datetime
) -> None:
    assert latest_digest_moment(now_utc, AT_0730) == expected_utc


def test_each_day_has_its_own_digest_id_and_the_same_day_always_the_same() -> None:
    day = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)

    assert digest_event_id(day) == digest_event_id(day)
    assert digest_event_id(day) != digest_event_id(datetime(2026, 11, 28, 0, 30, tzinfo=UTC))
