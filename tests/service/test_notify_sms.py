"""The citizen's SMS: handed to an HTTP gateway (a real one on a local socket) after the
notification commits, confirmed by the gateway's delivery report, retried on temporary failures up
to a bound and never twice at once, and held through quiet hours unless it is urgent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.notify.settings import DeliverySettings, SmsSettings
from shared.events import Applicant, DossierSupplementRequested, utc_now
from shared.working_time import VN_TZ
from tests.conftest import eventually
from tests.system import (
    APPLICANT,
    System,
    accept_a_dossier,
    citizen_headers,
    free_port,
    serving,
)

PHONE = APPLICANT["phone"]
CITIZEN = citizen_headers(APPLICANT["id_number"])
GATEWAY_TOKEN = "gateway-api-token"
REPORT_TOKEN = "gateway-report-token"
REPORTS = "/api/v1/delivery-reports/sms"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    payload: dict[str, Any]


class Gateway:
    """An SMS gateway that keeps what it is sent and answers with ``status``: 200 with a message id
    of its own, or the error it is told to give."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[Received] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.url = ""
        # Set by a test that wants the reply held back until it says so.
        self.release: asyncio.Event | None = None

    async def send(self, request: Request) -> JSONResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            payload = await request.json()
            # Slow enough that a second send of the same message would overlap this one.
            await asyncio.sleep(0.05)
            self.received.append(Received(dict(request.headers), payload))
            if self.release is not None:
                await self.release.wait()
            if self.status == 200:
                return JSONResponse({"id": f"gw-{len(self.received)}", "status": "queued"})
            return JSONResponse({"error": f"answering {self.status}"}, status_code=self.status)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    found = Gateway()
    async with serving(Starlette(routes=[Route("/sms", found.send, methods=["POST"])])) as base_url:
        found.url = f"{base_url}/sms"
        yield found


def use_sms(
    system: System,
    url: str,
    *,
    max_attempts: int = 3,
    quiet_start: time = time(0, 0),
    quiet_end: time = time(0, 0),
) -> None:
    """Switch SMS on against ``url``; no quiet hours unless given, so that the tests pass at night."""
    state = system.apps["notify"].state
    state.sms = SmsSettings(
        enabled=True,
        gateway_url=url,
        api_token=GATEWAY_TOKEN,
        report_token=REPORT_TOKEN,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
    )
    state.delivery = DeliverySettings(max_attempts=max_attempts, backoff_seconds=[0.2], poll_seconds=0.2)


async def sms_notification(
    system: System, event_type: str = "dossier.accepted", *, settled: bool = True
) -> dict[str, Any]:
    """The applicant's SMS about ``event_type`` with its delivery history, once nothing more will
    be tried (unless ``settled`` is False)."""

    async def check() -> dict[str, Any]:
        rows = await system.notifications(CITIZEN, channel="sms")
        matching = [row for row in rows if row["event_type"] == event_type and row["recipient"] == PHONE]
        assert len(matching) == 1, rows
        [row] = matching
        response = await system.notify.get(f"/api/v1/notifications/{row['id']}", headers=CITIZEN)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        assert found["channel"] == "sms"
        if settled:
            assert found["status"] != "pending" and found["next_attempt_at"] is None, found
        return found

    return await eventually(check, timeout=30)


async def report(system: System, body: dict[str, Any], token: str | None = REPORT_TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await system.notify.post(REPORTS, json=body, headers=headers)


async def test_the_citizen_gets_the_receipt_by_sms_and_the_gateway_reports_it_delivered(
    system: System, gateway: Gateway
) -> None:
    use_sms(system, gateway.url)

    code = await accept_a_dossier(system)
    sent = await sms_notification(system)

    assert sent["status"] == "sent" and sent["delivered_at"] is None
    [attempt] = sent["delivery_attempts"]
    assert attempt["outcome"] == "sent" and attempt["detail"].startswith("200")
    [request] = gateway.received
    assert request.headers["authorization"] == f"Bearer {GATEWAY_TOKEN}"
    assert request.payload["to"] == PHONE
    assert request.payload["sender"] == "MOTCUA"
    assert request.payload["reference"] == sent["id"]
    text = request.payload["text"]
    assert text.startswith(f"UBND phường Hải Châu đã tiếp nhận hồ sơ {code}. Hẹn trả kết quả: ")
    assert " ngày " in text and not text.endswith("\n") and len(text) < 300

    # The gateway quotes the id it answered with.
    delivered = await report(system, {"reference": "gw-1", "status": "delivered"})

    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["id"] == sent["id"] and delivered.json()["status"] == "delivered"
    shown = (await system.notify.get(f"/api/v1/notifications/{sent['id']}", headers=CITIZEN)).json()
    assert shown["status"] == "delivered" and shown["delivered_at"] is not None
    assert shown["attempts"] == 1 and [a["outcome"] for a in shown["delivery_attempts"]] == ["sent"]
    # A late contrary report changes nothing, and nothing is sent again.
    late = await report(system, {"reference": "gw-1", "status": "failed"})
    assert late.status_code == 200 and late.json()["status"] == "delivered"
    system.apps["notify"].state.couriers.wake()
    await asyncio.sleep(0.5)
    assert len(gateway.received) == 1


async def test_a_busy_gateway_is_retried_up_to_the_bound_and_never_twice_at_once(
    system: System, gateway: Gateway
) -> None:
    gateway.status = 503
    use_sms(system, gateway.url, max_attempts=3)

    await accept_a_dossier(system)
    notification = await sms_notification(system)

    assert notification["status"] == "temporary-failure"
    assert notification["attempts"] == 3
    attempts = notification["delivery_attempts"]
    assert [attempt["attempt"] for attempt in attempts] == [1, 2, 3]
    assert {attempt["outcome"] for attempt in attempts} == {"temporary-failure"}
    assert all(
        attempt["detail"].startswith("503 ") and "answering 503" in attempt["detail"] for attempt in attempts
    )
    assert len(gateway.received) == 3 and gateway.most_in_flight == 1
    # Past the bound nothing wakes it again.
    system.apps["notify"].state.couriers.wake()
    await asyncio.sleep(0.6)
    assert len(gateway.received) == 3


async def test_a_message_the_gateway_refuses_fails_permanently_on_the_first_attempt(
    system: System, gateway: Gateway
) -> None:
    gateway.status = 400
    use_sms(system, gateway.url)

    await accept_a_dossier(system)
    notification = await sms_notification(system)

    assert notification["status"] == "permanent-failure"
    [attempt] = notification["delivery_attempts"]
    assert attempt["outcome"] == "permanent-failure" and attempt["detail"].startswith("400")
    assert len(gateway.received) == 1


async def test_an_unreachable_gateway_is_a_technical_failure_retried(system: System) -> None:
    use_sms(system, f"http://127.0.0.1:{free_port()}/sms", max_attempts=2)

    await accept_a_dossier(system)
    notification = await sms_notification(system)

    assert notification["status"] == "technical-failure"
    assert [attempt["outcome"] for attempt in notification["delivery_attempts"]] == ["technical-failure"] * 2
    assert "ConnectError" in notification["delivery_attempts"][0]["detail"]


def supplement_request(code: str) -> DossierSupplementRequested:
    now = utc_now()
    return DossierSupplementRequested(
        dossier_code=code,
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        agency_name="UBND phường Hải Châu",
        applicant=Applicant(full_name=APPLICANT["full_name"], id_number=APPLICANT["id_number"], phone=PHONE),
        received_at=now,
        reason="Ảnh chụp CCCD bị mờ",
        items=["Bản chụp CCCD"],
        deadline_at=now + timedelta(days=5),
        requested_by="demo-officer",
    )


async def test_quiet_hours_hold_the_receipt_but_not_an_urgent_supplement_request(
    system: System, gateway: Gateway
) -> None:
    now = utc_now().astimezone(VN_TZ).replace(second=0, microsecond=0)
    quiet_end = now + timedelta(hours=1)
    use_sms(system, gateway.url, quiet_start=(now - timedelta(hours=1)).time(), quiet_end=quiet_end.time())

    code = await accept_a_dossier(system)
    await system.publish("processing", supplement_request(code))

    urgent = await sms_notification(system, "dossier.supplement.requested")
    assert urgent["urgent"] is True and urgent["status"] == "sent"

    async def held() -> dict[str, Any]:
        receipt = await sms_notification(system, settled=False)
        assert receipt["next_attempt_at"] is not None
        assert datetime.fromisoformat(receipt["next_attempt_at"]) == quiet_end
        return receipt

    receipt = await eventually(held)
    assert receipt["status"] == "pending" and receipt["urgent"] is False
    assert receipt["attempts"] == 0 and receipt["delivery_attempts"] == []
    [request] = gateway.received
    assert request.payload["reference"] == urgent["id"]
    assert request.payload["text"].startswith(f"Hồ sơ {code} cần bổ sung, hạn chót ")
    system.apps["notify"].state.couriers.wake()
    await asyncio.sleep(0.5)
    assert len(gateway.received) == 1


async def test_a_bad_delivery_report_changes_nothing(system: System, gateway: Gateway) -> None:
    use_sms(system, gateway.url)
    await accept_a_dossier(system)
    sent = await sms_notification(system)
    assert sent["status"] == "sent"
    good = {"reference": "gw-1", "status": "delivered"}

    unknown = await report(system, {"reference": "gw-999", "status": "delivered"})
    assert unknown.status_code == 404 and "gw-999" in unknown.json()["detail"]
    assert (await report(system, good, token="not-the-token")).status_code == 401
    assert (await report(system, good, token=None)).status_code == 401
    assert (await report(system, {"reference": "gw-1", "status": "read"})).status_code == 422
    assert (await report(system, {"status": "delivered"})).status_code == 422
    assert (await report(system, {"reference": "", "status": "delivered"})).status_code == 422
    state = system.apps["notify"].state
    state.sms = state.sms.model_copy(update={"report_token": None})
    switched_off = await report(system, good)
    assert switched_off.status_code == 503 and "REPORT_TOKEN" in switched_off.json()["detail"]

    shown = (await system.notify.get(f"/api/v1/notifications/{sent['id']}", headers=CITIZEN)).json()
    assert shown["status"] == "sent" and shown["delivered_at"] is None
    assert [attempt["outcome"] for attempt in shown["delivery_attempts"]] == ["sent"]


async def test_a_report_that_overtakes_the_gateways_reply_is_refused_until_the_send_is_recorded(
    system: System, gateway: Gateway
) -> None:
    gateway.release = asyncio.Event()
    use_sms(system, gateway.url)
    await accept_a_dossier(system)

    async def being_sent() -> None:
        assert len(gateway.received) == 1

    await eventually(being_sent)
    # The gateway reports on our own reference before it has even answered the request.
    ours = gateway.received[0].payload["reference"]
    early = await report(system, {"reference": ours, "status": "delivered"})
    assert early.status_code == 409 and "report again" in early.json()["detail"]

    gateway.release.set()
    sent = await sms_notification(system)
    assert sent["status"] == "sent"
    again = await report(system, {"reference": ours, "status": "delivered"})
    assert again.status_code == 200 and again.json()["status"] == "delivered"
