"""Intake's public HTTP API: the catalog, submission and status lookup for citizens."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from sqlalchemy.exc import IntegrityError

from services.intake import dossiers
from services.intake.models import Dossier
from shared.events import ProcedureVersion
from shared.http import RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1")

NOT_FOUND = "no dossier with this code and CCCD number"


def _invalid(loc: tuple[str, ...], message: str) -> HTTPException:
    # The same shape FastAPI uses for schema errors, so clients read one format.
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": list(loc), "msg": message, "type": "value_error"}]
    )


@router.get("/procedures", tags=["catalog"])
async def list_procedures(session: SessionDep) -> list[ProcedureVersion]:
    return await dossiers.current_procedures(session)


@router.get("/procedures/{code}", tags=["catalog"])
async def get_procedure(code: str, session: SessionDep) -> ProcedureVersion:
    procedure = await dossiers.current_procedure(session, code=code)
    if procedure is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"procedure {code} not found")
    return procedure


@router.post("/dossiers", status_code=status.HTTP_201_CREATED, tags=["dossiers"])
async def submit_dossier(
    submission: dossiers.SubmissionIn,
    runtime: RuntimeDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    """Submit a dossier; it gets its code at once. Resending the same ``Idempotency-Key`` returns
    the dossier created the first time."""
    key = idempotency_key.strip() if idempotency_key else None
    try:
        async with runtime.db.session() as session:
            dossier, created = await dossiers.submit(
                session, runtime.outbox, submission=submission, idempotency_key=key or None
            )
    except dossiers.SubmissionRejected as exc:
        raise _invalid(exc.loc, str(exc)) from exc
    except dossiers.IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its dossier.
        if not key:
            raise
        async with runtime.db.session() as session:
            found = await dossiers.by_idempotency_key(session, key=key)
        if found is None or found.request_fingerprint != dossiers.fingerprint(submission):
            raise HTTPException(status.HTTP_409_CONFLICT, "Idempotency-Key conflict") from None
        dossier, created = found, False
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return dossiers.public_view(dossier)


@router.get("/dossiers/{code}", tags=["dossiers"])
async def lookup_dossier(
    code: str,
    session: SessionDep,
    id_number: Annotated[str, Query(min_length=1, max_length=20, description="the applicant's CCCD")],
) -> dict[str, Any]:
    """Status lookup by dossier code plus the applicant's CCCD; a wrong pair reveals nothing."""
    dossier = await session.get(Dossier, code)
    if dossier is None or not hmac.compare_digest(dossier.id_number, id_number.strip()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return dossiers.public_view(dossier)
