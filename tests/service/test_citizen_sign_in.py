"""Citizen sign-in on intake's app in process, with a real temporary database and no NATS: the
one-time code to the dossier's contact, its exchange for a session, the lookup and the limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from services.intake import receipt
from services.intake.app import create_app
from services.intake.citizen_sign_in import CitizenSettings
from services.intake.models import Dossier
from shared.auth import issue_citizen_token, issue_token, verify_citizen_token
from shared.bus.outbox import OutboxMessage, OutboxRelay
from shared.events import utc_now
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import AuthSettings, CommonSettings
from tests.conftest import DatabaseSettingsFactory

SECRET = "service-tier-secret-0123456789-abcdef"
CODE = "000.00.06.H56-231027-0001"
CCCD = "049090001234"
PHONE = "0905123456"


@pytest.fixture
async def intake(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        RuntimeSettings(
            common=CommonSettings(data_dir=tmp_path / "data"), database=database_settings("intake")
        ),
        auth=AuthSettings(jwt_secret=SECRET),
        citizen=CitizenSettings(codes_per_dossier=3, lookups_per_dossier=2),
    )
    runtime: ServiceRuntime = app.state.runtime
    await upgrade(runtime.db, runtime.migrations)
    async with runtime.db.session() as session:
        session.add(
            Dossier(
                code=CODE,
                procedure_code="1.001193",
                procedure_version=1,
                procedure_name="Đăng ký khai sinh",
                agency_code="000.00.06.H56",
                status=2,
                full_name="Nguyễn Văn An",
                id_number=CCCD,
                phone=PHONE,
                email="an@example.vn",
                address="12 Trần Phú",
                documents=[],
                channel="online",
                submitted_at=utc_now(),
            )
        )
    app.state.test_runtime = runtime
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake"
        ) as client:
            yield client
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()


def _runtime(client: httpx.AsyncClient) -> ServiceRuntime:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    runtime: ServiceRuntime = transport.app.state.test_runtime  # type: ignore[attr-defined]
    return runtime


async def _outbox_codes(client: httpx.AsyncClient) -> list[dict[str, str]]:
    runtime = _runtime(client)
    table = runtime.outbox.table
    async with runtime.db.reading() as session:
        rows = (await session.execute(select(table.c.payload).where(table.c.subject.like("citizen.%")))).all()
    return [json.loads(row.payload) for row in rows]


async def _challenge(client: httpx.AsyncClient) -> tuple[str, str]:
    answer = await client.post(
        "/api/v1/citizen/one-time-codes", json={"dossier_code": CODE, "id_number": CCCD}
    )
    assert answer.status_code == 202, answer.text
    challenge_id = answer.json()["challenge_id"]
    event = next(item for item in await _outbox_codes(client) if item.get("challenge_id") == challenge_id)
    return challenge_id, event["code"]


async def test_a_code_from_the_emitted_event_opens_a_session_bound_to_the_cccd(
    intake: httpx.AsyncClient,
) -> None:
    answer = await intake.post(
        "/api/v1/citizen/one-time-codes", json={"dossier_code": CODE, "id_number": CCCD}
    )
    assert answer.status_code == 202
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["channel"] == "sms" and body["destination"] == "09******56"
    [event] = await _outbox_codes(intake)
    assert event["destination"] == PHONE and len(event["code"]) == 6
    session = await intake.post(
        "/api/v1/citizen/sessions", json={"challenge_id": body["challenge_id"], "code": event["code"]}
    )
    assert session.status_code == 200, session.text
    assert session.headers["cache-control"] == "no-store"
    assert verify_citizen_token(session.json()["access_token"], secret=SECRET) == CCCD
    again = await intake.post(
        "/api/v1/citizen/sessions", json={"challenge_id": body["challenge_id"], "code": event["code"]}
    )
    assert again.status_code == 410 and "already used" in again.json()["detail"]


async def test_a_wrong_pair_gets_the_lookups_404(intake: httpx.AsyncClient) -> None:
    answer = await intake.post(
        "/api/v1/citizen/one-time-codes", json={"dossier_code": CODE, "id_number": "049090009999"}
    )
    assert answer.status_code == 404
    assert answer.json()["detail"] == "no dossier with this code and CCCD number"
    assert await _outbox_codes(intake) == []


async def test_wrong_codes_say_the_tries_left_and_five_kill_the_challenge(intake: httpx.AsyncClient) -> None:
    challenge_id, code = await _challenge(intake)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        answer = await intake.post(
            "/api/v1/citizen/sessions", json={"challenge_id": challenge_id, "code": wrong}
        )
        assert answer.status_code == 401 and f"{left} tries left" in answer.json()["detail"]
    last = await intake.post("/api/v1/citizen/sessions", json={"challenge_id": challenge_id, "code": wrong})
    assert last.status_code == 401 and "no tries left" in last.json()["detail"]
    right = await intake.post("/api/v1/citizen/sessions", json={"challenge_id": challenge_id, "code": code})
    assert right.status_code == 410 and "too many wrong tries" in right.json()["detail"]


async def test_an_expired_code_is_refused(intake: httpx.AsyncClient) -> None:
    challenge_id, code = await _challenge(intake)
    runtime = _runtime(intake)
    from services.intake.models import CitizenChallenge

    async with runtime.db.session() as session:
        challenge = await session.get(CitizenChallenge, challenge_id)
        assert challenge is not None
        challenge.expires_at = utc_now()
    answer = await intake.post("/api/v1/citizen/sessions", json={"challenge_id": challenge_id, "code": code})
    assert answer.status_code == 410 and "expired" in answer.json()["detail"]


async def test_codes_per_dossier_are_limited_with_retry_after(intake: httpx.AsyncClient) -> None:
    for _ in range(3):
        await _challenge(intake)
    answer = await intake.post(
        "/api/v1/citizen/one-time-codes", json={"dossier_code": CODE, "id_number": CCCD}
    )
    assert answer.status_code == 429
    assert 0 < int(answer.headers["retry-after"]) <= 15 * 60


async def test_the_lookup_shows_status_and_due_date_and_no_personal_data(intake: httpx.AsyncClient) -> None:
    answer = await intake.post("/api/v1/lookup", json={"code": CODE, "id_number": CCCD})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["status"] == 2 and body["status_name"] == "new" and "due_at" in body
    for personal in (CCCD, PHONE, "an@example.vn", "Nguyễn Văn An", "12 Trần Phú"):
        assert personal not in answer.text


async def test_lookups_per_dossier_are_limited_with_retry_after(intake: httpx.AsyncClient) -> None:
    for _ in range(2):
        await intake.post("/api/v1/lookup", json={"code": CODE, "id_number": CCCD})
    answer = await intake.post("/api/v1/lookup", json={"code": CODE, "id_number": CCCD})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1


async def test_guessed_cccds_count_against_the_lookup_limit_like_right_ones(
    intake: httpx.AsyncClient,
) -> None:
    for guess in ("049090000001", "049090000002"):
        missed = await intake.post("/api/v1/lookup", json={"code": CODE, "id_number": guess})
        assert missed.status_code == 404, missed.text
    answer = await intake.post("/api/v1/lookup", json={"code": CODE, "id_number": CCCD})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1


async def test_the_code_is_not_kept_in_the_outbox_once_published(intake: httpx.AsyncClient) -> None:
    await _challenge(intake)
    runtime = _runtime(intake)
    published: list[OutboxMessage] = []

    async def publish(message: OutboxMessage) -> None:
        published.append(message)

    relay = OutboxRelay(runtime.db, runtime.outbox, publish)
    await relay.relay_once()
    assert any(message.subject == "citizen.one_time_code.issued" for message in published)
    assert await _outbox_codes(intake) == [{}]


# -- the routes with personal data need the applicant's session -----------------------------------
PERSONAL_ROUTES = [
    ("GET", "", None),
    ("GET", "/receipt", None),
    ("POST", "/supplements", {"note": "Bản sao giấy chứng sinh"}),
    ("POST", "/withdrawal", {"reason": "Nộp nhầm thủ tục"}),
    ("POST", "/rating", {"rating": "satisfied"}),
]
ROUTE_IDS = [f"{method} {suffix or '/'}" for method, suffix, _ in PERSONAL_ROUTES]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _unchanged(client: httpx.AsyncClient) -> None:
    runtime = _runtime(client)
    async with runtime.db.reading() as session:
        dossier = (await session.execute(select(Dossier).where(Dossier.code == CODE))).scalar_one()
        table = runtime.outbox.table
        queued = (await session.execute(select(table.c.subject))).scalars().all()
    assert dossier.status == 2 and dossier.withdrawal_requested_at is None and dossier.rating is None
    assert queued == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        _bearer("not-a-token"),
        _bearer(issue_citizen_token(CCCD, secret="another-secret-0123456789-abcdefgh")),
        _bearer(issue_token("demo-admin", secret=SECRET)),
    ],
    ids=["no token", "garbage", "citizen token of another secret", "staff token"],
)
@pytest.mark.parametrize(("method", "suffix", "body"), PERSONAL_ROUTES, ids=ROUTE_IDS)
async def test_personal_data_and_actions_answer_401_without_the_citizens_session(
    intake: httpx.AsyncClient,
    headers: dict[str, str],
    method: str,
    suffix: str,
    body: dict[str, str] | None,
) -> None:
    answer = await intake.request(method, f"/api/v1/dossiers/{CODE}{suffix}", json=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "detail" in answer.json() and CCCD not in answer.text
    await _unchanged(intake)


@pytest.mark.parametrize(("method", "suffix", "body"), PERSONAL_ROUTES, ids=ROUTE_IDS)
async def test_another_citizens_session_gets_the_same_404_as_an_unknown_dossier(
    intake: httpx.AsyncClient, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    other = _bearer(issue_citizen_token("048191005678", secret=SECRET))
    theirs = await intake.request(method, f"/api/v1/dossiers/{CODE}{suffix}", json=body, headers=other)
    unknown = await intake.request(
        method, f"/api/v1/dossiers/000.00.06.H56-231027-9999{suffix}", json=body, headers=other
    )
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json() == {"detail": "no dossier with this code and CCCD number"}
    await _unchanged(intake)


async def test_the_owners_session_reads_the_detail_and_the_receipt_and_neither_is_cached(
    intake: httpx.AsyncClient,
) -> None:
    owner = _bearer(issue_citizen_token(CCCD, secret=SECRET))
    detail = await intake.get(f"/api/v1/dossiers/{CODE}", headers=owner)
    assert detail.status_code == 200, detail.text
    assert detail.headers["cache-control"] == "no-store"
    assert detail.json()["code"] == CODE and detail.json()["status_name"] == "new"
    printed = await intake.get(f"/api/v1/dossiers/{CODE}/receipt", headers=owner)
    assert printed.status_code == 200, printed.text
    assert printed.headers["cache-control"] == "no-store"
    assert "Nguyễn Văn An" in printed.text and CODE in printed.text


async def test_the_cccd_is_the_tokens_and_a_body_cannot_name_another(intake: httpx.AsyncClient) -> None:
    other = _bearer(issue_citizen_token("048191005678", secret=SECRET))
    answer = await intake.post(
        f"/api/v1/dossiers/{CODE}/withdrawal", json={"id_number": CCCD, "reason": "Đổi ý"}, headers=other
    )
    assert answer.status_code == 404
    await _unchanged(intake)
    owner = _bearer(issue_citizen_token(CCCD, secret=SECRET))
    withdrawn = await intake.post(
        f"/api/v1/dossiers/{CODE}/withdrawal", json={"reason": "Đổi ý"}, headers=owner
    )
    assert withdrawn.status_code == 202, withdrawn.text


async def test_the_receipts_qr_code_opens_the_lookup_page_with_the_code_and_no_cccd(
    intake: httpx.AsyncClient,
) -> None:
    owner = _bearer(issue_citizen_token(CCCD, secret=SECRET))
    printed = (await intake.get(f"/api/v1/dossiers/{CODE}/receipt", headers=owner)).text
    link = receipt.status_url("http://127.0.0.1:8001", CODE)
    assert link == f"http://127.0.0.1:8001/lookup?code={CODE}"
    assert str(receipt.qr_svg(link)) in printed and CCCD not in link
    page = await intake.get("/lookup", params={"code": CODE})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'value="{CODE}"' in page.text and 'name="id_number"' in page.text


async def test_the_lookup_page_escapes_the_code_it_is_given(intake: httpx.AsyncClient) -> None:
    page = await intake.get("/api/v1/lookup", params={"code": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
