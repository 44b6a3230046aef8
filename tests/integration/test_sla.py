"""SLA timers end to end: NATS scheduled messages fire alerts before, at and after a step's deadline,
each once, with two processing replicas; completing a step cancels its timers; a restarted replica
re-arms timers that were lost. Runs on a 24/7 procedure whose steps last a minute (about 75 s)."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from datetime import datetime, timedelta

import httpx
import nats
from fastapi import FastAPI

from services.intake.app import create_app as create_intake
from services.processing.app import create_app as create_processing
from shared.bus.streams import ALERT, SLA
from shared.events import SlaAlert, parse_event, subject_token
from shared.nats_server import NatsServer
from tests.conftest import RuntimeSettingsFactory, eventually
from tests.integration.conftest import System, submission

MINUTE = 1 / 60
PROCEDURE = {
    "code": "SLA-TEST",
    "name": "Thủ tục kiểm thử cảnh báo",
    "field": "Kiểm thử",
    "agency_code": "000.00.06.H56",
    "level": "full",
    "fee": "Không",
    "time_limit": {"value": 2, "unit": "minute"},
    "documents": [],
    "steps": [
        {"name": "Tiếp nhận", "unit_code": "H56.HC.MOTCUA", "hours": MINUTE},
        {"name": "Xử lý", "unit_code": "H56.HC.TUPHAP", "hours": MINUTE},
        {"name": "Trả kết quả", "unit_code": "H56.HC.MOTCUA", "hours": 0, "counted": False},
    ],
    "stall_hours": 20 / 3600,
    "escalation_hours": [5 / 3600, 10 / 3600],
}
ADMIN = System.auth("demo-admin")
OFFICER = System.auth("demo-officer")


async def _alerts(url: str) -> list[SlaAlert]:
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        info = await js.stream_info(ALERT.name)
        found = []
        for sequence in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
            event = parse_event((await js.get_msg(ALERT.name, seq=sequence)).data or b"")
            assert isinstance(event, SlaAlert)
            found.append(event)
        return found
    finally:
        await connection.close()


async def _purge_timers(url: str, code: str) -> None:
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        subjects = f"sla.timer.{subject_token(code)}.>"

        async def armed() -> None:
            info = await js.stream_info(SLA.name, subjects_filter=subjects)
            assert info.state.messages >= 5

        await eventually(armed)
        await js.purge_stream(SLA.name, subject=subjects)
    finally:
        await connection.close()


def _client(stack: AsyncExitStack, app: FastAPI, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")


async def test_alerts_fire_in_order_once_each_on_time_and_only_while_the_step_runs(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    async with AsyncExitStack() as stack:
        first, intake_app = (
            create_processing(runtime_settings("processing")),
            create_intake(runtime_settings("intake")),
        )
        for app in (first, intake_app):
            await stack.enter_async_context(app.router.lifespan_context(app))
        # The second replica is started and stopped by hand: it is the one that restarts.
        second = create_processing(runtime_settings("processing")).state.runtime
        await second.start()
        processing = await stack.enter_async_context(_client(stack, first, "processing"))
        intake = await stack.enter_async_context(_client(stack, intake_app, "intake"))

        published = await processing.post("/api/v1/admin/procedures", json=PROCEDURE, headers=ADMIN)
        assert published.status_code == 201, published.text

        async def offered() -> None:
            assert (await intake.get("/api/v1/procedures/SLA-TEST")).status_code == 200

        await eventually(offered)
        codes: list[str] = []
        for _ in range(3):
            response = await intake.post("/api/v1/dossiers", json={**submission("SLA-TEST"), "documents": []})
            assert response.status_code == 201, response.text
            codes.append(response.json()["code"])
        alone, forwarded, lost = codes

        async def registered(code: str) -> None:
            assert (await processing.get(f"/api/v1/dossiers/{code}", headers=ADMIN)).status_code == 200

        accepted_at: dict[str, datetime] = {}
        for code in codes:
            await eventually(lambda code=code: registered(code))
            body = (await processing.post(f"/api/v1/dossiers/{code}/accept", headers=OFFICER)).json()
            accepted_at[code] = datetime.fromisoformat(body["decided_at"])
        started = time.monotonic()

        # Completing a step cancels its timers.
        forward = await processing.post(f"/api/v1/dossiers/{forwarded}/forward", headers=OFFICER)
        assert forward.status_code == 200, forward.text
        # Timers lost (purged), then a replica restarts: its start re-arms every open dossier.
        await _purge_timers(nats_server.url, lost)
        await second.stop()
        replacement = create_processing(runtime_settings("processing"))
        await stack.enter_async_context(replacement.router.lifespan_context(replacement))

        detail = (await processing.get(f"/api/v1/dossiers/{alone}", headers=ADMIN)).json()
        step_due = datetime.fromisoformat(detail["steps"][0]["due_at"])
        await asyncio.sleep(max(0.0, 75 - (time.monotonic() - started)))
        alerts = await _alerts(nats_server.url)

    def raised(code: str, kind: str, rung: int = 0) -> list[SlaAlert]:
        return [
            alert
            for alert in alerts
            if alert.dossier_code == code
            and alert.type == kind
            and alert.rung == rung
            and alert.level == "step"
        ]

    expected = [
        ("alert.near_due", 0, step_due - timedelta(seconds=12)),
        ("alert.overdue", 0, step_due),
        ("alert.escalated", 1, step_due + timedelta(seconds=5)),
        ("alert.escalated", 2, step_due + timedelta(seconds=10)),
        ("alert.stalled", 0, accepted_at[alone] + timedelta(seconds=20)),
    ]
    delays: list[float] = []
    for kind, rung, planned in expected:
        [alert] = raised(alone, kind, rung)  # exactly once, with two replicas running
        delays.append((alert.raised_at - planned).total_seconds())
    assert all(-0.5 <= delay <= 2.0 for delay in delays), delays
    order = [raised(alone, kind, rung)[0].raised_at for kind, rung, _ in expected[:4]]
    assert order == sorted(order)

    managers = {recipient.username for recipient in raised(alone, "alert.escalated", 1)[0].recipients}
    leaders = {recipient.username for recipient in raised(alone, "alert.escalated", 2)[0].recipients}
    assert "demo-manager" in managers and "demo-leader" in leaders
    assert [r.username for r in raised(alone, "alert.overdue")[0].recipients] == ["demo-officer"]

    assert not [alert for alert in alerts if alert.dossier_code == forwarded and alert.step_index == 0]
    assert len(raised(lost, "alert.overdue")) == 1  # re-armed by the restarted replica
    assert not [alert for alert in alerts if alert.level == "dossier" and alert.type == "alert.overdue"]
