"""What staff ask of one dossier, one type per action (the command, lệnh).

Each command is the body of its action's route, so every action keeps its own OpenAPI body, and
carries the dossier's code and the revision the client acted on, filled in by the route from the
path and ``If-Match``. ``actions.HANDLERS`` maps each type to the code that carries it out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, PrivateAttr
from pydantic.json_schema import SkipJsonSchema

from services.processing.domain import Action
from shared.events import DocumentRef

Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class Command(BaseModel):
    action: ClassVar[Action]
    # From the path, never from the body: it is left out of the schema and overwritten.
    code: SkipJsonSchema[str] = Field(default="", exclude=True)
    note: str | None = Field(default=None, max_length=2000)
    expected_revision: int | None = Field(default=None, ge=1)


class Accept(Command):
    action = Action.ACCEPT


class Refuse(Command):
    action = Action.REFUSE
    reason: Reason


class Claim(Command):
    action = Action.CLAIM


class Forward(Command):
    action = Action.FORWARD


class RequestSupplement(Command):
    action = Action.REQUEST_SUPPLEMENT
    reason: Reason
    items: list[str] = Field(min_length=1, max_length=50)
    deadline_at: datetime | None = None


class ResultDocument(BaseModel):
    name: str = Field(min_length=1, max_length=300)


class Approve(Command):
    action = Action.APPROVE
    result: ResultDocument
    # The stored electronic result (``result_files``), attached by the officer's page; never read
    # from a request body.
    _file: DocumentRef | None = PrivateAttr(default=None)

    @property
    def result_file(self) -> DocumentRef | None:
        return self._file

    def with_result_file(self, stored: DocumentRef) -> Approve:
        command = self.model_copy()
        command._file = stored
        return command


class Reject(Command):
    action = Action.REJECT
    reason: Reason


class ReturnResult(Command):
    action = Action.RETURN_RESULT


class Reschedule(Command):
    action = Action.RESCHEDULE
    reason: Reason
    new_due_at: datetime


COMMANDS: tuple[type[Command], ...] = (
    Accept,
    Refuse,
    Claim,
    Forward,
    RequestSupplement,
    Approve,
    Reject,
    ReturnResult,
    Reschedule,
)
