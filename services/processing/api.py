"""Processing's HTTP API for officers, managers, leaders and admins (bearer JWT).

Every action answers with the dossier as it now stands. A client may send the revision it acted on
(``expected_revision`` in the body, or ``If-Match``); a dossier that changed meanwhile answers 409.
The action routes are registered from ``actions.HANDLERS``, one per command type.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from services.processing import actions, catalog, domain, queries
from services.processing.auth import ActorDep, actor_named
from services.processing.commands import Command
from services.processing.schemas import DossierPublic
from shared.errors import Invalid
from shared.events import DossierStatus, ProcedureVersion, utc_now
from shared.http import Limit, Offset, RuntimeDep, SessionDep, TokenSubject
from shared.working_time import WorkingCalendar

router = APIRouter(prefix="/api/v1")

# "Near due" in the worklist: due within this many working hours (DESIGN's 4-hour threshold).
NEAR_DUE_HOURS = 4.0

IfMatch = Annotated[str | None, Header(alias="If-Match", description="the revision the action is based on")]


def _expected(body: Command, if_match: str | None) -> int | None:
    if body.expected_revision is not None or if_match is None:
        return body.expected_revision
    try:
        return int(if_match.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError as exc:
        raise Invalid("If-Match must be the dossier's revision number") from exc


@router.get("/procedures", tags=["catalog"])
async def list_procedures(session: SessionDep) -> list[ProcedureVersion]:
    return await catalog.latest_versions(session)


@router.get("/worklist", tags=["dossiers"])
async def worklist(
    session: SessionDep,
    actor: ActorDep,
    status_filter: Annotated[list[int] | None, Query(alias="status")] = None,
    step: Annotated[str | None, Query(description="the current step's name")] = None,
    assignee: Annotated[str | None, Query(description="'me' or a username")] = None,
    near_due: Annotated[bool, Query(description=f"due within {NEAR_DUE_HOURS:g} working hours")] = False,
    overdue: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[DossierPublic]:
    """The dossiers waiting on the caller's unit (agency for leaders, all for admins), soonest due first."""
    if status_filter and not all(value in DossierStatus._value2member_map_ for value in status_filter):
        raise Invalid("status must be between 1 and 10")
    now = utc_now()
    due_before = None
    if overdue:
        due_before = now
    elif near_due:
        due_before = WorkingCalendar().deadline_after(now, NEAR_DUE_HOURS)
    rows = await queries.worklist(
        session,
        actor=actor,
        statuses=status_filter,
        step_name=step,
        assignee=actor.username if assignee == "me" else assignee,
        due_before=due_before,
        limit=limit,
        offset=offset,
    )
    return [DossierPublic.of(row) for row in rows]


@router.get("/dossiers/{code}", tags=["dossiers"])
async def get_dossier(code: str, session: SessionDep, actor: ActorDep) -> DossierPublic:
    """The dossier with its audit trail and each step's allotted, used and remaining working time."""
    dossier = await queries.get(session, code=code)
    domain.check_scope(actor, agency_code=dossier.current_agency_code, unit_code=dossier.current_unit_code)
    return DossierPublic.of(
        dossier,
        history=await queries.history(session, code=code),
        clocks=await queries.step_clocks(session, dossier, now=utc_now()),
    )


def _action_route(command_type: type[Command]) -> Callable[..., Awaitable[DossierPublic]]:
    """The route of one action: its body is the command; a command with no required field may be
    posted without a body."""
    optional = not any(field.is_required() for field in command_type.model_fields.values())

    async def act(
        code: str, runtime: Any, username: str, if_match: str | None, body: Command | None
    ) -> DossierPublic:
        command = body or command_type()
        command = command.model_copy(update={"code": code, "expected_revision": _expected(command, if_match)})
        async with runtime.db.session() as session:
            # The actor is read in the action's own transaction: one round trip, not a second one.
            actor = await actor_named(session, username)
            dossier = await actions.execute(session, runtime.outbox, actor=actor, command=command)
        return DossierPublic.of(dossier)

    keyword = inspect.Parameter.KEYWORD_ONLY
    act.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("code", keyword, annotation=str),
            inspect.Parameter("runtime", keyword, annotation=RuntimeDep),
            inspect.Parameter("username", keyword, annotation=TokenSubject),
            inspect.Parameter("if_match", keyword, annotation=IfMatch, default=None),
            inspect.Parameter(
                "body",
                keyword,
                annotation=command_type | None if optional else command_type,
                default=None if optional else inspect.Parameter.empty,
            ),
        ],
        return_annotation=DossierPublic,
    )
    act.__doc__ = command_type.__doc__
    return act


for _command_type in actions.HANDLERS:
    _action = _command_type.action.value
    router.add_api_route(
        f"/dossiers/{{code}}/{_action}",
        _action_route(_command_type),
        methods=["POST"],
        tags=["actions"],
        name=_action.replace("-", "_"),
        response_model=DossierPublic,
    )
