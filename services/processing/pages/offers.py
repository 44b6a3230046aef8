"""What the dossier page offers, and how its forms become commands.

The buttons are asked of the workflow's own rules (``domain``): an action is offered when the table
allows it from the dossier's status, the officer's role may take it, and the running step's claim
and position allow it. The form's command then goes through ``actions.execute``, as the API's does,
which checks everything again; nothing here decides on its own."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.processing import actions, domain
from services.processing.commands import Command
from services.processing.schemas import DossierPublic, StepPublic
from shared.errors import Refusal
from shared.events import DossierStatus, ProcedureVersion
from shared.staff import Staff
from shared.working_time import VN_TZ

A = domain.Action
COMMANDS: Mapping[str, type[Command]] = {command.action.value: command for command in actions.HANDLERS}
# The fields each action's form has, besides the revision and the CSRF token.
FIELDS: Mapping[A, tuple[str, ...]] = {
    A.ACCEPT: ("note",),
    A.REFUSE: ("reason",),
    A.CLAIM: ("note",),
    A.FORWARD: ("note",),
    A.REQUEST_SUPPLEMENT: ("reason", "items", "deadline_at"),
    A.APPROVE: ("result_name", "result_file", "note"),
    A.REJECT: ("reason",),
    A.RETURN_RESULT: ("note",),
    A.RESCHEDULE: ("reason", "new_due_at"),
}
_STEP_ACTIONS = frozenset({A.CLAIM, A.FORWARD, A.REQUEST_SUPPLEMENT, A.APPROVE, A.REJECT})


def running_step(dossier: DossierPublic) -> StepPublic | None:
    if dossier.current_step_index is None:
        return None
    return next((step for step in dossier.steps or [] if step.index == dossier.current_step_index), None)


def _passes(check: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        check(*args, **kwargs)
    except Refusal:
        return False
    return True


def _step_allows(
    action: domain.Action, status: DossierStatus, step_index: int, procedure: ProcedureVersion
) -> bool:
    """Forward before the last processing step, approve at it."""
    if action is A.FORWARD:
        return _passes(domain.check_forward, status=status, step_index=step_index, procedure=procedure)
    if action is A.APPROVE:
        return _passes(
            domain.check_resolve, status=status, step_index=step_index, procedure=procedure, action=action
        )
    return True


def offered(
    actor: Staff, dossier: DossierPublic, procedure: ProcedureVersion, *, now: datetime
) -> list[domain.Action]:
    """The actions ``actor`` may take on ``dossier`` now, in the workflow's order."""
    status = DossierStatus(dossier.status)
    step = running_step(dossier)
    found = []
    for command_type in actions.HANDLERS:
        action = command_type.action
        if not domain.allows(status, action) or not _passes(domain.check_role, actor, action):
            continue
        if action in _STEP_ACTIONS and step is None:
            continue
        assignee = None if step is None else step.assignee
        if action in domain.CLAIM_GUARDED and not _passes(domain.check_claimed_by, actor, assignee):
            continue
        if action is A.CLAIM and not _passes(domain.check_claim, actor, assignee, step_name=""):
            continue
        if step is not None and not _step_allows(action, status, step.index, procedure):
            continue
        if action is A.REFUSE and status is DossierStatus.WAITING:
            deadline = dossier.supplement_deadline_at
            if deadline is None or deadline > now:
                continue
        found.append(action)
    return found


class FormProblems(Exception):
    """The form's fields, as the command needs them, are wrong: ``errors`` maps a field to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _moment(value: str, field: str, errors: dict[str, str]) -> datetime | None:
    """A ``datetime-local`` field, read on Vietnam's clock."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors[field] = "form.bad_moment"
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=VN_TZ)


# A field of the command → the form's field that carries it.
_FORM_FIELD = {"result": "result_name"}


def command_of(action: domain.Action, form: Mapping[str, str]) -> Command:
    """The command the form for ``action`` asks for; ``FormProblems`` (message keys) otherwise."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    for name in ("note", "reason"):
        if name in FIELDS[action] and form.get(name, "").strip():
            body[name] = form[name].strip()
    if "items" in FIELDS[action]:
        body["items"] = [line.strip() for line in form.get("items", "").splitlines() if line.strip()]
    if "result_name" in FIELDS[action]:
        body["result"] = {"name": form.get("result_name", "").strip()}
    for name in ("deadline_at", "new_due_at"):
        if name in FIELDS[action]:
            body[name] = _moment(form.get(name, "").strip(), name, errors)
    revision = form.get("revision", "").strip()
    if revision.isdigit():
        body["expected_revision"] = int(revision)
    body = {name: value for name, value in body.items() if value is not None}
    try:
        command = COMMANDS[action.value].model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "_form"
            errors.setdefault(_FORM_FIELD.get(name, name), "form.required")
    if errors:
        raise FormProblems(errors)
    return command
