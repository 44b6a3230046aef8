"""SLA alerts as staff see them in notify: each person sees their scope (unit, agency, all), and an
alert is acknowledged once, by a manager, leader or admin in scope. Alerts are published through
processing's outbox, as processing itself raises them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.notify.models import Person
from services.notify.staff.directory import record_person
from shared.events import (
    AlertEscalated,
    AlertOverdue,
    DirectoryPersonChanged,
    DossierStepCompleted,
    SlaAlert,
    utc_now,
)
from tests.conftest import eventually
from tests.system import System, overdue_alert

DEMO_AGENCY = "000.00.06.H56"
DEMO_UNIT = "H56.HC.MOTCUA"
SYT_AGENCY = "000.00.12.H56"
SYT_UNIT = "H56.SYT.MOTCUA"


def overdue(code: str, *, agency_code: str, unit_code: str, recipients: list[str]) -> AlertOverdue:
    return overdue_alert(code, *recipients, agency_code=agency_code, unit_code=unit_code)


async def publish(system: System, *alerts: SlaAlert) -> None:
    await system.publish("processing", *alerts)


async def alerts_seen_by(system: System, username: str, count: int, **params: str) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]]:
        response = await system.notify.get("/api/v1/alerts", params=params, headers=system.auth(username))
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        assert len(rows) == count, rows
        return rows

    return await eventually(check)


async def test_the_directory_copy_is_filled_at_start(system: System) -> None:
    # An unknown user gets 401; the seeded manager is known once processing's directory arrives.
    await alerts_seen_by(system, "demo-manager", 0)
    response = await system.notify.get("/api/v1/alerts", headers=system.auth("nobody"))
    assert response.status_code == 401
    assert (await system.notify.get("/api/v1/alerts")).status_code == 401


async def test_alerts_are_listed_per_scope_and_acknowledged_once(system: System) -> None:
    demo = overdue(
        "000.00.06.H56-261127-0001", agency_code=DEMO_AGENCY, unit_code=DEMO_UNIT, recipients=["demo-officer"]
    )
    other_unit = overdue(
        "000.00.06.H56-261127-0002",
        agency_code=DEMO_AGENCY,
        unit_code="H56.HC.KT",
        recipients=["demo-officer"],
    )
    escalated = AlertEscalated(
        **{
            **other_unit.model_dump(exclude={"event_id", "type", "rung"}),
            "dossier_code": "000.00.06.H56-261127-0003",
        },
        kind="overdue",
        rung=2,
    )
    syt = overdue(
        "000.00.12.H56-261127-0001", agency_code=SYT_AGENCY, unit_code=SYT_UNIT, recipients=["syt-officer"]
    )
    await publish(system, demo, other_unit, escalated, syt)

    officer_view = await alerts_seen_by(system, "demo-officer", 1)
    assert officer_view[0]["dossier_code"] == demo.dossier_code
    assert officer_view[0]["kind"] == "overdue" and officer_view[0]["status"] == "open"
    await alerts_seen_by(system, "demo-manager", 1)
    leader_view = await alerts_seen_by(system, "demo-leader", 3)
    assert {row["agency_code"] for row in leader_view} == {DEMO_AGENCY}
    assert {row["rung"] for row in leader_view} == {0, 2}
    await alerts_seen_by(system, "demo-admin", 4)
    # Newest first, and paginated.
    assert (
        len(
            (
                await system.notify.get(
                    "/api/v1/alerts", params={"limit": 2}, headers=system.auth("demo-admin")
                )
            ).json()
        )
        == 2
    )

    alert_id = officer_view[0]["id"]
    ack = f"/api/v1/alerts/{alert_id}/ack"
    assert (await system.notify.post(ack, headers=system.auth("demo-officer"))).status_code == 403
    assert (await system.notify.post(ack, headers=system.auth("syt-officer"))).status_code == 403
    syt_id = (await alerts_seen_by(system, "syt-officer", 1))[0]["id"]
    out_of_scope = await system.notify.post(
        f"/api/v1/alerts/{syt_id}/ack", headers=system.auth("demo-leader")
    )
    assert out_of_scope.status_code == 403

    acked = await system.notify.post(ack, headers=system.auth("demo-manager"))
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "demo-manager"
    assert acked.json()["acknowledged_at"] is not None
    again = await system.notify.post(ack, headers=system.auth("demo-leader"))
    assert again.status_code == 409
    assert (
        await system.notify.post("/api/v1/alerts/nope/ack", headers=system.auth("demo-admin"))
    ).status_code == 404

    assert await alerts_seen_by(system, "demo-officer", 0, status="open") == []
    await alerts_seen_by(system, "demo-officer", 1, status="acknowledged")
    await alerts_seen_by(system, "demo-leader", 2, status="open")


async def test_each_alert_recipient_gets_an_inbox_notification(system: System) -> None:
    alert = overdue(
        "000.00.06.H56-261127-0009",
        agency_code=DEMO_AGENCY,
        unit_code=DEMO_UNIT,
        recipients=["demo-officer", "demo-manager"],
    )
    await publish(system, alert)

    for username in ("demo-officer", "demo-manager"):

        async def check(username: str = username) -> None:
            rows = await system.notifications(System.auth(username), channel="inbox")
            assert [row["event_type"] for row in rows] == ["alert.overdue"]
            assert alert.dossier_code in rows[0]["subject"]
            assert rows[0]["channel"] == "inbox" and rows[0]["status"] == "sent"

        await eventually(check)


async def test_an_alert_is_resolved_once_its_step_is_done(system: System) -> None:
    alert = overdue(
        "000.00.06.H56-261127-0010", agency_code=DEMO_AGENCY, unit_code=DEMO_UNIT, recipients=["demo-officer"]
    )
    await publish(system, alert)
    [seen] = await alerts_seen_by(system, "demo-admin", 1, status="open")

    await publish(
        system,
        DossierStepCompleted(
            dossier_code=alert.dossier_code,
            step_index=0,
            step_name="Tiếp nhận",
            unit_code=DEMO_UNIT,
            completed_by="demo-officer",
            completed_at=utc_now(),
            used_hours=9,
            allotted_hours=8,
        ),
    )

    [resolved] = await alerts_seen_by(system, "demo-admin", 1, status="resolved")
    assert resolved["id"] == seen["id"] and resolved["resolved_at"] is not None
    conflict = await system.notify.post(f"/api/v1/alerts/{seen['id']}/ack", headers=system.auth("demo-admin"))
    assert conflict.status_code == 409


async def test_the_directory_copy_keeps_the_newest_change_of_each_person(system: System) -> None:
    db = system.runtime("notify").db

    async def manager() -> Person:
        async with db.reading() as session:
            person = await session.get(Person, "demo-manager")
        assert person is not None
        return person

    seeded = await eventually(manager)
    assert (seeded.role, seeded.unit_code, seeded.active) == ("manager", DEMO_UNIT, True)

    def change(active: bool, minutes: int) -> DirectoryPersonChanged:
        return DirectoryPersonChanged(
            username="demo-manager",
            full_name=seeded.full_name,
            role="manager",
            agency_code=DEMO_AGENCY,
            unit_code=DEMO_UNIT,
            email=seeded.email,
            active=active,
            occurred_at=utc_now() + timedelta(minutes=minutes),
        )

    async with db.session() as session:
        await record_person(session=session, event=change(active=False, minutes=2))
        # Arriving late, an older change does not undo the newer one.
        await record_person(session=session, event=change(active=True, minutes=1))

    assert (await manager()).active is False
    response = await system.notify.get("/api/v1/alerts", headers=system.auth("demo-manager"))
    assert response.status_code == 401


async def test_ends_fetched_together_resolve_each_dossiers_own_alerts_and_meet_later_ones(
    system: System,
) -> None:
    """As a consumer fetches them: the ends of several dossiers in one batch, one of them alerted,
    are kept together; each resolves only its own dossier's step, and an alert that arrives after
    its step ended is stored resolved."""
    codes = [f"000.00.06.H56-261127-{number:04d}" for number in range(20, 23)]
    alerted = overdue(codes[0], agency_code=DEMO_AGENCY, unit_code=DEMO_UNIT, recipients=["demo-officer"])
    await publish(system, alerted)
    await alerts_seen_by(system, "demo-admin", 1, status="open")
    ended_at = utc_now()

    def completed(code: str, step_index: int) -> DossierStepCompleted:
        return DossierStepCompleted(
            dossier_code=code,
            version=alerted.version,
            step_index=step_index,
            step_name="Tiếp nhận",
            unit_code=DEMO_UNIT,
            completed_by="demo-officer",
            completed_at=ended_at,
            used_hours=9,
            allotted_hours=8,
        )

    notify = system.runtime("notify")
    await notify.deliver_batch([completed(codes[0], 1), completed(codes[1], 0), completed(codes[0], 0)])
    [resolved] = await alerts_seen_by(system, "demo-admin", 1, status="resolved")
    assert resolved["dossier_code"] == codes[0]

    late = overdue(codes[1], agency_code=DEMO_AGENCY, unit_code=DEMO_UNIT, recipients=["demo-officer"])
    untouched = overdue(codes[2], agency_code=DEMO_AGENCY, unit_code=DEMO_UNIT, recipients=["demo-officer"])
    await publish(system, late, untouched)
    seen = await alerts_seen_by(system, "demo-admin", 3)
    status = {row["dossier_code"]: row["status"] for row in seen}
    assert status == {codes[0]: "resolved", codes[1]: "resolved", codes[2]: "open"}
