"""The envelope every event shares, and the clock it is stamped with."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """The envelope every event shares; subclasses fix ``type`` and add their payload."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    occurred_at: datetime = Field(default_factory=utc_now)
    dossier_code: str | None = None
    version: int = 1

    @property
    def subject(self) -> str:
        return self.type

    def bus_headers(self) -> dict[str, str]:
        """Headers the message needs on the bus beyond the ids and the trace (e.g. a schedule)."""
        return {}
