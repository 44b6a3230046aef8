"""SLA timers end to end: NATS scheduled messages fire alerts before, at and after a step's deadline,
each once, with two processing replicas; completing a step cancels its timers; a supplement pause
moves them; an action re-arms the stalled timer; a restarted replica re-arms timers that were lost.
Runs on a 24/7 procedure whose steps last a minute (about 80 s)."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from datetime import datetime, timedelta

import httpx
import nats
from fastapi import FastAPI
from nats.js.errors import NotFoundError
from sqlmodel import col, update

from services.intake.app import create_app as create_intake
from services.processing.app import create_app as create_processing
from services.processing.models import Dossier
from shared.bus.streams import ALERT, SLA
from shared.events import DossierSupplementProvided, SlaAlert, parse_event, subject_token, utc_now
from shared.nats_server import NatsServer
from tests.conftest import RuntimeSettingsFactory, eventually
from tests.system import System, submission

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
MANAGER = System.auth("demo-manager")


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


async def _armed_moment(url: str, code: str, kind: str) -> datetime:
    """When the step-0 timer of ``kind`` armed for ``code`` on the SLA stream is scheduled to fire;
    AssertionError while none is armed."""
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        subject = f"sla.timer.{subject_token(code)}.step.{kind}.0"
        try:
            message = await js.get_last_msg(SLA.name, subject)
        except NotFoundError as exc:
            raise AssertionError(f"no timer armed on {subject}") from exc
        schedule = (message.headers or {})["Nats-Schedule"]
        return datetime.fromisoformat(schedule.removeprefix("@at ").replace("Z", "+00:00"))
    finally:
        await connection.close()


async def step_due_of(processing: httpx.AsyncClient, code: str) -> datetime:
    detail = (await processing.get(f"/api/v1/dossiers/{code}", headers=ADMIN)).json()
    return datetime.fromisoformat(detail["steps"][0]["due_at"])


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
        for _ in range(5):
            response = await intake.post("/api/v1/dossiers", json={**submission("SLA-TEST"), "documents": []})
            assert response.status_code == 201, response.text
            codes.append(response.json()["code"])
        alone, forwarded, lost, paused, acted = codes

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
        await _purge_timers(nats_server.url_for(), lost)
        await second.stop()
        replacement = create_processing(runtime_settings("processing"))
        await stack.enter_async_context(replacement.router.lifespan_context(replacement))

        # A supplement request pauses the clock: no timer fires while the citizen is away.
        supplement = {"reason": "Thiếu tờ khai", "items": ["Tờ khai"]}
        requested = await processing.post(
            f"/api/v1/dossiers/{paused}/request-supplement", json=supplement, headers=OFFICER
        )
        assert requested.status_code == 200, requested.text
        paused_due = await step_due_of(processing, paused)
        # The unit head takes the step over: an action, so the stalled clock starts again.
        await asyncio.sleep(8)
        claim_sent = utc_now()
        claimed = await processing.post(f"/api/v1/dossiers/{acted}/claim", headers=MANAGER)
        assert claimed.status_code == 200, claimed.text
        claim_answered = utc_now()
        # The citizen takes a minute (working time counts in whole minutes): move the request
        # back rather than wait, then the supplement arrives and the clock resumes.
        async with first.state.runtime.db.session() as session:
            await session.execute(
                update(Dossier)
                .where(col(Dossier.code) == paused)
                .values(paused_at=utc_now() - timedelta(minutes=1))
            )
        provided = DossierSupplementProvided(dossier_code=paused, documents=[], provided_at=utc_now())
        intake_runtime = intake_app.state.runtime
        async with intake_runtime.db.session() as session:
            await intake_runtime.outbox.add(session, provided)

        async def resumed() -> datetime:
            moved = await step_due_of(processing, paused)
            assert moved > paused_due, "the clock has not resumed yet"
            return moved

        resumed_due = await eventually(resumed)

        async def rearmed() -> datetime:
            moment = await _armed_moment(nats_server.url_for(), paused, "due")
            assert moment >= resumed_due, "the timer of the old deadline is still armed"
            return moment

        paused_timer = await eventually(rearmed)
        step_due = await step_due_of(processing, alone)
        await asyncio.sleep(max(0.0, 75 - (time.monotonic() - started)))
        alerts = await _alerts(nats_server.url_for())

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

    # The pause moved the step's deadline by the minute the citizen took, and its timer with it:
    # nothing fired at the old deadline, and the timer armed in NATS is for the new one.
    assert resumed_due - paused_due == timedelta(minutes=1)
    assert not raised(paused, "alert.near_due") and not raised(paused, "alert.overdue")
    assert timedelta(0) <= paused_timer - resumed_due < timedelta(milliseconds=1)

    # The claim re-armed the stalled timer: it fired 20 s after the claim, not after the acceptance.
    [stalled] = raised(acted, "alert.stalled")
    assert claim_sent + timedelta(seconds=19.5) <= stalled.raised_at <= claim_answered + timedelta(seconds=22)
