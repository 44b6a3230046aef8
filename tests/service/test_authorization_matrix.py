"""Every route of the three services, as every persona, answers the status the table in
``tests/service/authorization.py`` holds (its docstring states the conventions).

Service tier: the three apps in process on real temporary databases, without NATS; what one
service's outbox holds is handed to the others through their runtime's entry point, as the bus
would. The routes come from each app's OpenAPI document, so a route without a row fails.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import count
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlmodel import select

from services.intake.app import create_app as create_intake
from services.intake.citizen_sign_in import CitizenSettings
from services.notify.app import create_app as create_notify
from services.notify.messages import templates_admin
from services.notify.models import Alert, Channel, Notification
from services.notify.settings import SmsSettings
from services.processing import catalog, directory, working_calendar
from services.processing.app import create_app as create_processing
from services.processing.catalog import ProcedureDraft
from services.processing.directory import AgencyCreate, PersonCreate, UnitCreate
from services.processing.working_calendar import CalendarDay
from shared.auth import issue_citizen_token, issue_token
from shared.bus.outbox import OutboxMessage, OutboxRelay
from shared.db import drop_schemas
from shared.events import (
    PURGE_HEADER,
    AlertOverdue,
    AlertRecipient,
    ProcedureStep,
    TimeLimit,
    parse_event,
    utc_now,
)
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import DATABASE_SETTINGS, AuthSettings, CommonSettings, DatabaseSettings, ServiceName
from tests.conftest import POSTGRES_URL_VARIABLE
from tests.service import (
    authorization_portal as portal,
)
from tests.service import (
    authorization_reports as reports,
)
from tests.service import (
    authorization_staff_pages as staff_pages,
)
from tests.service.authorization import (
    AGENCY,
    DESK,
    OTHER_ID_NUMBER,
    OTHER_UNIT,
    OWNER_ID_NUMBER,
    PERSONAS,
    PROCEDURE,
    SPARE_USERNAME,
    TABLE,
    TEMPLATE_KEY,
    USERNAMES,
    Context,
    DossierState,
    Persona,
    Row,
    submission,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVICES: tuple[ServiceName, ...] = ("intake", "processing", "notify")
GATEWAY_TOKEN = "matrix-sms-gateway-token-0123456789"
CALENDAR_DAY = date(2030, 5, 4)


def build_apps(
    folder: Path, database: Callable[[ServiceName], DatabaseSettings]
) -> dict[ServiceName, FastAPI]:
    def settings(service: ServiceName) -> RuntimeSettings:
        return RuntimeSettings(common=CommonSettings(data_dir=folder / "data"), database=database(service))

    auth = AuthSettings()
    # Every persona asks for codes and lookups on one dossier from one address: the limits would
    # answer 429 to the later personas. tests/service/test_citizen_sign_in.py tests the limits.
    unlimited = CitizenSettings(
        codes_per_dossier=10_000, codes_per_ip=10_000, lookups_per_dossier=10_000, lookups_per_ip=10_000
    )
    return {
        "intake": create_intake(settings("intake"), citizen=unlimited),
        "processing": create_processing(settings("processing"), auth=auth),
        "notify": create_notify(settings("notify"), auth=auth, sms=SmsSettings(report_token=GATEWAY_TOKEN)),
    }


def sqlite_database(folder: Path) -> Callable[[ServiceName], DatabaseSettings]:
    def make(service: ServiceName) -> DatabaseSettings:
        return DATABASE_SETTINGS[service](
            database_url=f"sqlite+aiosqlite:///{folder}/{service}.db", database_schema=None
        )

    return make


def openapi_routes() -> set[str]:
    """``"service METHOD /path"`` for every operation of the three apps' OpenAPI documents."""
    found: set[str] = set()
    with tempfile.TemporaryDirectory() as folder:
        for service, app in build_apps(Path(folder), sqlite_database(Path(folder))).items():
            for path, operations in app.openapi()["paths"].items():
                found.update(f"{service} {method.upper()} {path}" for method in operations)
            app.state.runtime.tracer_provider.shutdown()
    return found


ROUTES = openapi_routes()
ALL_ROWS: tuple[Row, ...] = TABLE + portal.ROWS + staff_pages.ROWS + reports.ROWS
ROWS: dict[str, Row] = {row.route: row for row in ALL_ROWS}
assert len(ROWS) == len(ALL_ROWS), "the table has two rows for one route"


def cases() -> list[Any]:
    params = []
    for route in sorted(ROUTES | ROWS.keys()):
        row = ROWS.get(route)
        for persona in PERSONAS:
            reason = None if row is None else row.fixes.get(persona)
            marks = [] if reason is None else [pytest.mark.xfail(strict=True, reason=reason)]
            params.append(pytest.param(route, persona, marks=marks, id=f"{route} as {persona}"))
    return params


# -- the three services in process ------------------------------------------------------------------
class InProcessBus:
    """Hands every event a service's outbox holds to the other services' consumers, as NATS would;
    SLA timers and their purges have no one to fire them here and are dropped."""

    def __init__(self, runtimes: Mapping[ServiceName, ServiceRuntime]) -> None:
        self.runtimes = runtimes
        self.relays = {
            name: OutboxRelay(runtime.db, runtime.outbox, self._publisher(name))
            for name, runtime in runtimes.items()
        }
        self._failures: list[BaseException] = []

    def _publisher(self, source: ServiceName) -> Callable[[OutboxMessage], Any]:
        async def publish(message: OutboxMessage) -> None:
            if PURGE_HEADER in message.headers or "Nats-Schedule" in message.headers:
                return
            event = parse_event(message.payload)
            try:
                for name, runtime in self.runtimes.items():
                    if name != source:
                        await runtime.deliver(event)
            except BaseException as exc:
                self._failures.append(exc)
                raise

        return publish

    async def settle(self) -> None:
        """Deliver until no outbox holds anything more."""
        while True:
            published = 0
            for relay in self.relays.values():
                sent, complete = await relay.relay_once()
                if self._failures:
                    raise self._failures.pop()
                assert complete, "an in-process delivery did not complete"
                published += sent
            if not published:
                return


@dataclass
class Bench:
    apps: dict[ServiceName, FastAPI]
    clients: dict[ServiceName, httpx.AsyncClient]
    bus: InProcessBus
    tokens: dict[Persona, str | None]
    shared_code: str = ""
    owner_notification: str = ""
    officer_notification: str = ""

    def runtime(self, service: ServiceName) -> ServiceRuntime:
        runtime: ServiceRuntime = self.apps[service].state.runtime
        return runtime

    def headers(self, persona: Persona) -> dict[str, str]:
        token = self.tokens[persona]
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    async def act(
        self, persona: Persona, action: str, code: str, body: Mapping[str, Any] | None = None
    ) -> None:
        response = await self.clients["processing"].post(
            f"/api/v1/dossiers/{code}/{action}", json=body or {}, headers=self.headers(persona)
        )
        assert response.status_code == 200, (
            f"setting up, {action} answered {response.status_code}: {response.text}"
        )
        await self.bus.settle()

    async def dossier(self, state: DossierState) -> str:
        """A new dossier of the owning citizen, driven through the services to ``state``."""
        response = await self.clients["intake"].post("/api/v1/dossiers", json=submission(_NO_CONTEXT))
        assert response.status_code == 201, response.text
        code: str = response.json()["code"]
        await self.bus.settle()
        if state == "receiving":
            return code
        await self.act("officer", "accept", code)
        if state == "new":
            return code
        if state == "waiting":
            await self.act(
                "officer", "request-supplement", code, {"reason": "Thiếu giấy tờ", "items": ["Tờ khai"]}
            )
            return code
        # Forwarded by the manager, the next step is unassigned and its officers hear of it.
        await self.act("manager", "forward", code)
        if state == "processing":
            return code
        await self.act("officer", "approve", code, {"result": {"name": "Giấy khai sinh"}})
        if state == "releasing":
            return code
        await self.act("officer", "return-result", code)
        return code

    async def fresh_alert(self, code: str) -> str:
        now = utc_now()
        alert = AlertOverdue(
            dossier_code=code,
            version=1,
            procedure_code=PROCEDURE,
            procedure_name="Thủ tục của ma trận phân quyền",
            level="dossier",
            step_index=None,
            step_name=None,
            agency_code=AGENCY,
            unit_code=DESK,
            owner=USERNAMES["officer"],
            due_at=now,
            raised_at=now,
            recipients=[AlertRecipient(username=USERNAMES["officer"], role="officer")],
        )
        runtime = self.runtime("notify")
        await runtime.deliver(alert)
        async with runtime.db.reading() as session:
            row = (await session.exec(select(Alert).where(Alert.event_id == str(alert.event_id)))).one()
        return row.id

    async def prepare(self, row: Row) -> None:
        if row.prepare == "calendar day":
            async with self.runtime("processing").db.session() as session:
                day = CalendarDay(day=CALENDAR_DAY, working=True, note="Làm bù")
                await working_calendar.replace_calendar_year(session, year=CALENDAR_DAY.year, days=[day])
        elif row.prepare == "template override":
            language, event_type, channel = TEMPLATE_KEY
            async with self.runtime("notify").db.session() as session:
                await templates_admin.put(
                    session=session,
                    renderer=self.apps["notify"].state.renderer,
                    language=language,
                    event_type=event_type,
                    channel=channel,
                    subject="Hồ sơ {{ dossier_code }}",
                    body="Hồ sơ {{ dossier_code }} đã được tiếp nhận.",
                    updated_by=USERNAMES["admin"],
                    now=utc_now(),
                )


_NO_CONTEXT = Context(code="", unique="", owner_notification="", officer_notification="", alert="")


async def seed(bench: Bench) -> None:
    """The matrix's own agency, units, people and procedure, through the admin's code paths (each
    person's change goes out to the other services as an admin's edit would)."""
    runtime = bench.runtime("processing")
    async with runtime.db.session() as session:
        await directory.create_agency(session, agency=AgencyCreate(code=AGENCY, name="Cơ quan thử nghiệm"))
        for code, receives in ((DESK, True), (OTHER_UNIT, False)):
            unit = UnitCreate(
                code=code, agency_code=AGENCY, name=f"Đơn vị {code}", receives_dossiers=receives
            )
            await directory.create_unit(session, unit=unit)
        people = [
            PersonCreate(
                username=USERNAMES["officer"], full_name="Cán bộ một cửa", role="officer", unit_code=DESK
            ),
            PersonCreate(
                username=USERNAMES["outsider"], full_name="Cán bộ khác", role="officer", unit_code=OTHER_UNIT
            ),
            PersonCreate(
                username=USERNAMES["manager"], full_name="Phụ trách một cửa", role="manager", unit_code=DESK
            ),
            PersonCreate(
                username=USERNAMES["leader"], full_name="Lãnh đạo", role="leader", agency_code=AGENCY
            ),
            PersonCreate(username=USERNAMES["admin"], full_name="Quản trị", role="admin"),
            PersonCreate(
                username=USERNAMES["inactive"],
                full_name="Cán bộ đã nghỉ",
                role="officer",
                unit_code=DESK,
                active=False,
            ),
            PersonCreate(
                username=SPARE_USERNAME, full_name="Cán bộ dự phòng", role="officer", unit_code=OTHER_UNIT
            ),
        ]
        for person in people:
            created = await directory.create_person(session, person=person)
            await runtime.outbox.add(session, directory.person_changed(created))
        # The 24/7 calendar, 30 days: deadlines neither pass during the run nor land on a day off.
        draft = ProcedureDraft(
            code=PROCEDURE,
            name="Thủ tục của ma trận phân quyền",
            field="Thử nghiệm",
            agency_code=AGENCY,
            level="full",
            time_limit=TimeLimit(value=30 * 24 * 60, unit="minute"),
            steps=[
                ProcedureStep(name="Tiếp nhận", unit_code=DESK, hours=360),
                ProcedureStep(name="Thẩm định", unit_code=DESK, hours=360),
                ProcedureStep(name="Trả kết quả", unit_code=DESK, hours=0, counted=False),
            ],
        )
        await catalog.publish_procedure(session, runtime.outbox, draft=draft, published_by=USERNAMES["admin"])
    await bench.bus.settle()

    bench.shared_code = await bench.dossier("processing")
    async with bench.runtime("notify").db.reading() as session:
        mine = select(Notification).where(
            Notification.dossier_code == bench.shared_code, Notification.channel == Channel.INBOX.value
        )
        owners = (await session.exec(mine.where(Notification.recipient == OWNER_ID_NUMBER))).all()
        officers = (await session.exec(mine.where(Notification.recipient == USERNAMES["officer"]))).all()
    assert owners and officers, "the shared dossier's notifications are missing"
    bench.owner_notification = min(owners, key=lambda row: row.created_at).id
    bench.officer_notification = officers[0].id


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def matrix_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    if backend == "postgres" and not os.environ.get(POSTGRES_URL_VARIABLE):
        pytest.skip(f"{POSTGRES_URL_VARIABLE} not set")
    return backend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bench(matrix_backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bench]:
    folder = tmp_path_factory.mktemp("matrix")
    postgres_url = os.environ.get(POSTGRES_URL_VARIABLE, "")
    prefix = f"t_{uuid4().hex[:10]}"
    database = sqlite_database(folder)
    if matrix_backend == "postgres":

        def database(service: ServiceName) -> DatabaseSettings:
            return DATABASE_SETTINGS[service](
                database_url=postgres_url, database_schema=f"{prefix}_{service}"
            )

    apps = build_apps(folder, database)
    runtimes = {name: app.state.runtime for name, app in apps.items()}
    for runtime in runtimes.values():
        await upgrade(runtime.db, runtime.migrations)
    secret = AuthSettings().secret
    tokens: dict[Persona, str | None] = {
        "anonymous": None,
        "owner": issue_citizen_token(OWNER_ID_NUMBER, secret=secret),
        "other_citizen": issue_citizen_token(OTHER_ID_NUMBER, secret=secret),
        **{persona: issue_token(username, secret=secret) for persona, username in USERNAMES.items()},
    }
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
        for name, app in apps.items()
    }
    bench = Bench(apps=apps, clients=clients, bus=InProcessBus(runtimes), tokens=tokens)
    try:
        await seed(bench)
        yield bench
    finally:
        for client in clients.values():
            await client.aclose()
        for runtime in runtimes.values():
            await runtime.db.dispose()
            runtime.tracer_provider.shutdown()
        if matrix_backend == "postgres":
            await drop_schemas(postgres_url, [f"{prefix}_{service}" for service in SERVICES])


_unique = count(1)


async def stream_status(app: FastAPI, path: str, headers: Mapping[str, str]) -> int:
    """The status a streaming route starts its response with; the client then goes away."""
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    gone = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("notify", 80),
    }
    call = asyncio.create_task(app(scope, receive, send))
    try:
        return await asyncio.wait_for(asyncio.shield(started), timeout=5)
    finally:
        gone.set()
        try:
            await asyncio.wait_for(call, timeout=5)
        except TimeoutError:
            call.cancel()


@pytest.mark.parametrize(("route", "persona"), cases())
async def test_each_route_answers_each_persona_as_the_table_says(
    bench: Bench, route: str, persona: Persona
) -> None:
    row = ROWS.get(route)
    assert row is not None, (
        f"{route} has no row in tests/service/authorization.py: add one with the status each persona gets"
    )
    assert route in ROUTES, f"the row for {route} names a route no service has any more: remove or update it"
    code = bench.shared_code if row.state is None else await bench.dossier(row.state)
    unique = f"{next(_unique)}{uuid4().hex[:6]}"
    alert = await bench.fresh_alert(bench.shared_code) if "{alert_id}" in row.path else ""
    context = Context(
        code=code,
        unique=unique,
        owner_notification=bench.owner_notification,
        officer_notification=bench.officer_notification,
        alert=alert,
    )
    await bench.prepare(row)
    path = row.path.format(**row.path_params(context))
    headers = bench.headers(persona)
    if row.stream:
        status = await stream_status(bench.apps[row.service], path, headers)
    else:
        response = await bench.clients[row.service].request(
            row.method,
            path,
            params=None if row.query is None else dict(row.query(context)),
            json=None if row.body is None else row.body(context),
            headers=headers,
        )
        status = response.status_code
    expected = row.expected[persona]
    detail = "" if row.stream else f": {response.text[:300]}"
    assert status == expected, f"{route} as {persona}: {status}, the table says {expected}{detail}"
