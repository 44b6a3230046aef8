"""The admin's HTTP API: the directory, the working calendar and the procedure catalog.

Every route needs an admin's bearer token. Routes only translate: the rules live in ``directory`` and
``catalog``, and every write is one unit of work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import catalog, directory, working_calendar
from services.processing.auth import AdminDep, require_admin
from services.processing.catalog import ProcedureDraft
from services.processing.directory import (
    AgencyCreate,
    AgencyDetail,
    AgencyUpdate,
    PersonCreate,
    PersonUpdate,
    UnitCreate,
    UnitUpdate,
)
from services.processing.models import Agency, Person, Unit
from services.processing.working_calendar import CalendarDay, CalendarYear
from shared.errors import Conflict
from shared.events import ProcedureVersion
from shared.http import RuntimeDep, SessionDep
from shared.runtime import ServiceRuntime
from shared.staff import Role

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

Year = Annotated[int, Path(ge=2000, le=2100)]


@asynccontextmanager
async def _unit_of_work(runtime: ServiceRuntime) -> AsyncIterator[AsyncSession]:
    """A transaction whose rules raise the shared refusals (answered as 404, 409 and 422)."""
    try:
        async with runtime.db.session() as session:
            yield session
    except IntegrityError as exc:
        # Two admins creating the same entry at once: the database's constraint decides.
        raise Conflict("the change conflicts with a concurrent one") from exc


# -- agencies ---------------------------------------------------------------------------------------
@router.get("/agencies")
async def list_agencies(session: SessionDep) -> list[Agency]:
    return await directory.list_agencies(session)


@router.post("/agencies", status_code=status.HTTP_201_CREATED)
async def create_agency(body: AgencyCreate, runtime: RuntimeDep) -> Agency:
    async with _unit_of_work(runtime) as session:
        return await directory.create_agency(session, agency=body)


@router.get("/agencies/{code}")
async def get_agency(code: str, session: SessionDep) -> AgencyDetail:
    return await directory.agency_detail(session, code=code)


@router.patch("/agencies/{code}")
async def update_agency(code: str, body: AgencyUpdate, runtime: RuntimeDep) -> Agency:
    async with _unit_of_work(runtime) as session:
        return await directory.update_agency(session, code=code, changes=body)


# -- units ------------------------------------------------------------------------------------------
@router.get("/units")
async def list_units(session: SessionDep, agency_code: str | None = None) -> list[Unit]:
    return await directory.list_units(session, agency_code=agency_code)


@router.post("/units", status_code=status.HTTP_201_CREATED)
async def create_unit(body: UnitCreate, runtime: RuntimeDep) -> Unit:
    async with _unit_of_work(runtime) as session:
        return await directory.create_unit(session, unit=body)


@router.patch("/units/{code}")
async def update_unit(code: str, body: UnitUpdate, runtime: RuntimeDep) -> Unit:
    async with _unit_of_work(runtime) as session:
        return await directory.update_unit(session, code=code, changes=body)


# -- people -----------------------------------------------------------------------------------------
@router.get("/people")
async def list_people(
    session: SessionDep,
    unit_code: str | None = None,
    agency_code: str | None = None,
    role: Role | None = None,
    active: bool | None = None,
) -> list[Person]:
    return await directory.list_people(
        session, unit_code=unit_code, agency_code=agency_code, role=role, active=active
    )


@router.post("/people", status_code=status.HTTP_201_CREATED)
async def create_person(body: PersonCreate, runtime: RuntimeDep) -> Person:
    async with _unit_of_work(runtime) as session:
        return await directory.enrol_person(session, runtime.outbox, person=body)


@router.patch("/people/{username}")
async def update_person(username: str, body: PersonUpdate, runtime: RuntimeDep) -> Person:
    async with _unit_of_work(runtime) as session:
        person = await directory.update_person(session, username=username, changes=body)
        await runtime.outbox.add(session, directory.person_changed(person))
        return person


# -- working calendar -------------------------------------------------------------------------------
@router.get("/calendar/{year}")
async def get_calendar(year: Year, session: SessionDep) -> CalendarYear:
    return await working_calendar.calendar_year(session, year=year)


@router.put("/calendar/{year}")
async def replace_calendar(year: Year, body: list[CalendarDay], runtime: RuntimeDep) -> CalendarYear:
    """Replace the year's overrides. Deadlines already issued keep the calendar they were computed on."""
    async with _unit_of_work(runtime) as session:
        await working_calendar.replace_calendar_year(session, year=year, days=body)
        return await working_calendar.calendar_year(session, year=year)


@router.delete("/calendar/{year}/{day}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_calendar_day(year: Year, day: date, runtime: RuntimeDep) -> Response:
    async with _unit_of_work(runtime) as session:
        await working_calendar.delete_calendar_day(session, year=year, day=day)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- procedures -------------------------------------------------------------------------------------
class PublishedVersionOut(BaseModel):
    version: int
    published_at: datetime
    published_by: str
    procedure: ProcedureVersion


@router.get("/procedures")
async def list_procedures(session: SessionDep) -> list[ProcedureVersion]:
    """The current version of every procedure."""
    return await catalog.latest_versions(session)


@router.get("/procedures/{code}/versions")
async def list_versions(code: str, session: SessionDep) -> list[PublishedVersionOut]:
    versions = await catalog.versions_of(session, code=code)
    return [
        PublishedVersionOut(
            version=item.procedure.version,
            published_at=item.published_at,
            published_by=item.published_by,
            procedure=item.procedure,
        )
        for item in versions
    ]


@router.post("/procedures", status_code=status.HTTP_201_CREATED)
async def publish_procedure(
    body: ProcedureDraft, runtime: RuntimeDep, admin: AdminDep, response: Response
) -> ProcedureVersion:
    """Publish a new version of a procedure (version 1 of a new code). Dossiers already submitted keep
    their version. A draft identical to the current version publishes nothing (200)."""
    async with _unit_of_work(runtime) as session:
        procedure, created = await catalog.publish_procedure(
            session, runtime.outbox, draft=body, published_by=admin.username
        )
    if not created:
        response.status_code = status.HTTP_200_OK
    return procedure
