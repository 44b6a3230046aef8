"""The rules of the SMS and webhook channels that need no server: quiet hours, the webhook
signature, what a provider's HTTP reply means, and the short SMS texts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from services.notify.channels.delivery import Claimed
from services.notify.channels.http_reply import outcome_of_http_reply
from services.notify.channels.sms import SmsSender, quiet_hours_end
from services.notify.channels.webhook import sign, verify
from services.notify.messages.notifications import message_context
from services.notify.messages.rendering import TemplateRenderer
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import SmsSettings
from shared.events import CitizenNotice
from shared.working_time import VN_TZ
from tests.unit.test_notify_messages import CODE, citizen_notices

NIGHT = {"start": time(21, 0), "end": time(7, 0)}
LUNCH = {"start": time(12, 0), "end": time(13, 30)}


def vn(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, second, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("now", "ends"),
    [
        (vn(10, 22, 30), vn(11, 7)),  # evening: until tomorrow morning
        (vn(11, 3), vn(11, 7)),  # after midnight: until this morning
        (vn(10, 21), vn(11, 7)),  # the start belongs to the quiet hours
        (vn(11, 6, 59, 59), vn(11, 7)),
        (vn(11, 7), None),  # the end does not
        (vn(10, 20, 59, 59), None),
        (vn(10, 12), None),
    ],
)
def test_quiet_hours_across_midnight(now: datetime, ends: datetime | None) -> None:
    assert quiet_hours_end(now, **NIGHT) == ends


@pytest.mark.parametrize(
    ("now", "ends"),
    [
        (vn(10, 12), vn(10, 13, 30)),
        (vn(10, 13, 29), vn(10, 13, 30)),
        (vn(10, 13, 30), None),
        (vn(10, 11, 59), None),
        (vn(10, 23), None),
    ],
)
def test_quiet_hours_within_a_day(now: datetime, ends: datetime | None) -> None:
    assert quiet_hours_end(now, **LUNCH) == ends


@pytest.mark.parametrize("hour", [0, 7, 12, 21, 23])
def test_equal_start_and_end_mean_no_quiet_hours(hour: int) -> None:
    assert quiet_hours_end(vn(10, hour), start=time(hour), end=time(hour)) is None


def test_quiet_hours_are_vietnam_time_and_end_in_utc() -> None:
    # 15:00 UTC is 22:00 in Vietnam: held until 07:00 there, midnight UTC.
    ends = quiet_hours_end(datetime(2025, 1, 1, 15, 0, tzinfo=UTC), **NIGHT)

    assert ends == datetime(2025, 1, 2, 0, 0, tzinfo=UTC)
    assert ends is not None and ends.utcoffset() == timedelta(0)
    assert quiet_hours_end(datetime(2025, 1, 1, 13, 59, tzinfo=UTC), **NIGHT) is None


def test_quiet_hours_need_an_aware_moment() -> None:
    with pytest.raises(ValueError, match="naive"):
        quiet_hours_end(datetime(2025, 1, 1, 22, 0), **NIGHT)


def claimed(*, urgent: bool) -> Claimed:
    return Claimed(
        notification_id="n1",
        attempt=1,
        channel=Channel.SMS,
        event_id="e1",
        event_type="dossier.accepted",
        dossier_code=CODE,
        recipient="0905123456",
        subject="s",
        body="b",
        urgent=urgent,
    )


def test_only_a_non_urgent_sms_waits_for_the_morning() -> None:
    sender = SmsSender(lambda: SmsSettings(enabled=True, gateway_url="https://gw.example/sms", **NIGHT))
    night = vn(10, 23)

    assert sender.hold_until(claimed(urgent=False), night) == vn(11, 7)
    assert sender.hold_until(claimed(urgent=True), night) is None
    assert sender.hold_until(claimed(urgent=False), vn(11, 9)) is None


def test_the_sms_channel_is_ready_once_switched_on_with_a_gateway() -> None:
    assert not SmsSender(lambda: SmsSettings(gateway_url="http://gw.example/sms")).ready()
    assert not SmsSender(lambda: SmsSettings(enabled=True)).ready()
    assert SmsSender(lambda: SmsSettings(enabled=True, gateway_url="https://gw.example/sms")).ready()


SECRET = "portal-secret-0123456789"
BODY = b'{"type": "dossier.accepted", "dossier_code": "X"}'
NOW = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)
STAMP = int(NOW.timestamp())


def test_a_signature_verifies_with_the_same_secret_body_and_timestamp() -> None:
    signature = sign(SECRET, STAMP, BODY)

    assert signature.startswith("sha256=") and len(signature) == len("sha256=") + 64
    assert verify(SECRET, str(STAMP), BODY, signature, now=NOW)
    assert verify(SECRET, STAMP, BODY, signature, now=NOW + timedelta(seconds=299))


def test_a_tampered_body_a_wrong_secret_or_another_timestamp_fails() -> None:
    signature = sign(SECRET, STAMP, BODY)

    assert not verify(SECRET, STAMP, BODY.replace(b"X", b"Y"), signature, now=NOW)
    assert not verify("another-secret-0123456789", STAMP, BODY, signature, now=NOW)
    assert not verify(SECRET, STAMP + 1, BODY, signature, now=NOW)
    assert not verify(SECRET, STAMP, BODY, signature.removeprefix("sha256="), now=NOW)
    assert not verify(SECRET, STAMP, BODY, "sha256=" + "0" * 64, now=NOW)


@pytest.mark.parametrize("skew", [301, -301, 3600])
def test_a_stale_or_future_timestamp_fails_even_with_a_good_signature(skew: int) -> None:
    assert not verify(SECRET, STAMP, BODY, sign(SECRET, STAMP, BODY), now=NOW + timedelta(seconds=skew))


@pytest.mark.parametrize("timestamp", ["", "abc", "-1", "1.5", " 1741572000", "１２３"])
def test_a_malformed_timestamp_fails(timestamp: str) -> None:
    assert not verify(SECRET, timestamp, BODY, sign(SECRET, STAMP, BODY), now=NOW)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (200, NotificationStatus.SENT),
        (202, NotificationStatus.SENT),
        (408, NotificationStatus.TEMPORARY_FAILURE),
        (425, NotificationStatus.TEMPORARY_FAILURE),
        (429, NotificationStatus.TEMPORARY_FAILURE),
        (500, NotificationStatus.TEMPORARY_FAILURE),
        (503, NotificationStatus.TEMPORARY_FAILURE),
        (400, NotificationStatus.PERMANENT_FAILURE),
        (401, NotificationStatus.PERMANENT_FAILURE),
        (404, NotificationStatus.PERMANENT_FAILURE),
        (301, NotificationStatus.PERMANENT_FAILURE),
    ],
)
def test_http_replies_decide_the_outcome(code: int, outcome: NotificationStatus) -> None:
    assert outcome_of_http_reply(code, accepted=NotificationStatus.SENT) is outcome


def test_a_webhook_2xx_is_a_delivery() -> None:
    assert outcome_of_http_reply(204, accepted=NotificationStatus.DELIVERED) is NotificationStatus.DELIVERED


@pytest.mark.parametrize("event", citizen_notices(), ids=lambda event: f"{event.type}")
@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_citizen_notice_has_a_short_sms_with_the_dossier_code(
    event: CitizenNotice, language: str
) -> None:
    message = TemplateRenderer().render(event.type, language, message_context(event), channel="sms")
    text = message.body.strip()

    assert CODE in text
    assert "\n" not in text and "{{" not in text
    assert len(text) <= 300, text
    # The long letter's heading is not what an SMS says.
    assert text != TemplateRenderer().render(event.type, language, message_context(event)).body.strip()


def test_the_receipt_sms_gives_the_appointment_and_the_supplement_sms_the_deadline() -> None:
    accepted, _, supplement, *_ = citizen_notices()
    renderer = TemplateRenderer()

    receipt = renderer.render(accepted.type, "vi", message_context(accepted), channel="sms").body
    assert f"đã tiếp nhận hồ sơ {CODE}. Hẹn trả kết quả: 09:32 ngày 03/11/2023." in receipt
    request = renderer.render(supplement.type, "vi", message_context(supplement), channel="sms").body
    assert f"Hồ sơ {CODE} cần bổ sung, hạn chót 09:32 ngày 01/11/2023." in request
