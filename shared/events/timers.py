"""SLA timers as NATS scheduled messages, and the purge that cancels them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field

from shared.events.base import Event

TimerKind = Literal["near_due", "due", "stalled", "escalation"]
# Outbox rows carrying this header are a purge marker: published to the SLA stream, then every
# message older than the marker on each subject filter of the header (space-separated) is purged.
PURGE_HEADER = "Motcua-Purge"
# The dossier revision a timer was armed at, in a header so that reading what is armed takes
# headers only (the server copies it onto the fired message too).
VERSION_HEADER = "Motcua-Version"


def subject_token(code: str) -> str:
    """A dossier code as one subject token (codes contain dots, which separate tokens)."""
    return code.replace(".", "_")


def timer_slot(level: str, kind: str, rung: int) -> str:
    """Which timer of its dossier this is (``step.due.0``, ``dossier.near_due.0``): its subject, less
    the dossier. The running step's timers have no step number in it: one step runs at a time, so
    the next step's timers, armed on the same subjects, replace the last one's, and a forward purges
    nothing. Which step a timer is for travels in the message (``step_index``)."""
    return f"{level}.{kind}.{rung}"


def timer_subjects(code: str) -> str:
    """Every timer subject of a dossier, as a subject filter."""
    return f"sla.timer.{subject_token(code)}.>"


class SlaTimer(Event):
    """An SLA timer, armed as a NATS scheduled message on its own subject so that arming it again
    replaces it; at ``fire_at`` the server publishes it to ``sla.fired.…``.

    ``event_id`` (the ``Nats-Msg-Id``) is new for every arm, never derived from what the timer
    carries: a timer lost from the stream and armed again the same way within the duplicate window
    must not be dropped as a duplicate of the lost one."""

    type: Literal["sla.timer"] = "sla.timer"
    dossier_code: str
    level: Literal["step", "dossier"]
    step_index: int | None
    kind: TimerKind
    rung: int = 0
    fire_at: datetime

    @property
    def slot(self) -> str:
        """Which timer of its dossier this is (see ``timer_slot``)."""
        return timer_slot(self.level, self.kind, self.rung)

    @property
    def _suffix(self) -> str:
        return f"{subject_token(self.dossier_code)}.{self.slot}"

    @property
    def subject(self) -> str:
        return f"sla.timer.{self._suffix}"

    @property
    def target(self) -> str:
        return f"sla.fired.{self._suffix}"

    def bus_headers(self) -> dict[str, str]:
        # Milliseconds, rounded up: a timer never fires before its moment, and timers due within
        # one second fire spread over it rather than all at its end.
        moment = self.fire_at.astimezone(UTC)
        if moment.microsecond % 1000:
            moment += timedelta(microseconds=1000 - moment.microsecond % 1000)
        stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "Nats-Schedule": f"@at {stamp}",
            "Nats-Schedule-Target": self.target,
            VERSION_HEADER: str(self.version),
        }


class SlaTimersCancelled(Event):
    """Timers of a dossier its new state no longer uses are dropped: the message is a marker on the
    SLA stream, and what ``filters`` match is purged up to the marker's sequence only. A purge
    published again (after a commit that failed) therefore never drops a timer armed after it.
    Without ``filters``, every timer of the dossier."""

    type: Literal["sla.cancel"] = "sla.cancel"
    dossier_code: str
    filters: list[str] = Field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"sla.cancel.{subject_token(self.dossier_code)}"

    def bus_headers(self) -> dict[str, str]:
        return {PURGE_HEADER: " ".join(self.filters or [timer_subjects(self.dossier_code)])}
