"""Intake's read copy of the catalog: the procedure versions processing published."""

from __future__ import annotations

from typing import cast

from sqlalchemy import bindparam
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import Dossier, ProcedureCopy
from shared.db import memo_of, table_of
from shared.driver_statements import DriverStatement
from shared.events import ProcedureVersion

_COPIES = table_of(ProcedureCopy)
_NEWEST_VERSION = DriverStatement(
    select_columns(_COPIES.c.version)
    .where(_COPIES.c.code == bindparam("code"))
    .order_by(_COPIES.c.version.desc())
    .limit(1)
)
_BODY = DriverStatement(
    select_columns(_COPIES.c.body).where(
        _COPIES.c.code == bindparam("code"), _COPIES.c.version == bindparam("version")
    )
)


async def current_procedure(session: AsyncSession, *, code: str) -> ProcedureVersion | None:
    """The newest version of the procedure ``code``: every submission asks, so the version is read
    on the driver and the body is read and parsed once per version."""
    newest = await _NEWEST_VERSION.rows(session, {"code": code})
    return None if not newest else await _version(session, code, newest[0][0])


async def _version(session: AsyncSession, code: str, version: int) -> ProcedureVersion | None:
    # A version's copy is stored once and never changed (``projection.store_procedure``).
    memo = memo_of(session)
    key = ("procedure version", code, version)
    if (known := memo.get(key)) is not None:
        return cast(ProcedureVersion, known)
    rows = await _BODY.rows(session, {"code": code, "version": version})
    if not rows:
        return None
    procedure = memo[key] = ProcedureVersion.model_validate(rows[0][0])
    return procedure


async def current_procedures(session: AsyncSession) -> list[ProcedureVersion]:
    rows = (
        await session.exec(
            select(ProcedureCopy).order_by(col(ProcedureCopy.code), col(ProcedureCopy.version))
        )
    ).all()
    latest = {row.code: row for row in rows}
    return [ProcedureVersion.model_validate(row.body) for row in latest.values()]


async def procedure_of(session: AsyncSession, dossier: Dossier) -> ProcedureVersion | None:
    """The procedure version the dossier was submitted under."""
    return await _version(session, dossier.procedure_code, dossier.procedure_version)
