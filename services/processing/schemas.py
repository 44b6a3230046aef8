"""What processing answers with: a dossier as staff see it, with its steps' clocks and its audit
trail, every instant on Vietnam's clock."""

from __future__ import annotations

from datetime import datetime

from pydantic import computed_field, model_validator
from sqlmodel import SQLModel

from services.processing.models import Dossier, DossierBase, DossierHistory, DossierHistoryBase
from services.processing.queries import StepClock
from shared.events import DossierStatus
from shared.vietnam_time import shown_in_vietnam


class StepPublic(SQLModel):
    index: int
    name: str
    unit_code: str
    agency_code: str
    assignee: str | None
    counted: bool
    started_at: datetime
    due_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    allotted_hours: float
    used_hours: float
    remaining_hours: float | None

    @model_validator(mode="after")
    def _in_vietnam(self) -> StepPublic:
        return shown_in_vietnam(self)

    @classmethod
    def of(cls, clock: StepClock) -> StepPublic:
        return cls.model_validate(
            clock.step,
            update={
                "index": clock.step.step_index,
                "used_hours": clock.used_hours,
                "remaining_hours": clock.remaining_hours,
            },
        )


class HistoryPublic(DossierHistoryBase):
    @model_validator(mode="after")
    def _in_vietnam(self) -> HistoryPublic:
        return shown_in_vietnam(self)


class DossierPublic(DossierBase):
    steps: list[StepPublic] | None = None
    history: list[HistoryPublic] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_name(self) -> str:
        return DossierStatus(self.status).portal_name

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return DossierStatus(self.status).vietnamese_name

    @model_validator(mode="after")
    def _in_vietnam(self) -> DossierPublic:
        return shown_in_vietnam(self)

    @classmethod
    def of(
        cls,
        dossier: Dossier,
        *,
        history: list[DossierHistory] | None = None,
        clocks: list[StepClock] | None = None,
    ) -> DossierPublic:
        return cls.model_validate(
            dossier,
            update={
                "steps": None if clocks is None else [StepPublic.of(clock) for clock in clocks],
                "history": None
                if history is None
                else [HistoryPublic.model_validate(row) for row in history],
            },
        )
