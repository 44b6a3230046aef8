"""Intake's event consumers: the catalog read copy and the citizen's status copy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.intake import projection
from shared.events import (
    DossierAccepted,
    DossierRefused,
    DossierRequestDeclined,
    DossierRescheduled,
    DossierResolved,
    DossierResultReturned,
    DossierStepAssigned,
    DossierSupplementRequested,
    DossierWithdrawn,
    ProcedurePublished,
)
from shared.runtime import ServiceRuntime

# The dossier events, each applied to the citizen's copy.
_PROJECTIONS: list[tuple[type[Any], Callable[..., Awaitable[None]]]] = [
    (DossierAccepted, projection.apply_accepted),
    (DossierRefused, projection.apply_refused),
    (DossierStepAssigned, projection.apply_step_assigned),
    (DossierSupplementRequested, projection.apply_supplement_requested),
    (DossierWithdrawn, projection.apply_withdrawn),
    (DossierResolved, projection.apply_resolved),
    (DossierResultReturned, projection.apply_result_returned),
    (DossierRescheduled, projection.apply_rescheduled),
    (DossierRequestDeclined, projection.apply_request_declined),
]


# One fetch loop per event type: what waits meanwhile comes as one batch, applied in one transaction
# that locks its dossiers' rows in one statement. Four loops side by side each took one event at a
# time under load, and cost more CPU per dossier for no shorter wait (bench/lifecycle.py). The copy
# ends the same whatever order events arrive in (see ``projection``).
PROJECTION_CONCURRENCY = 1


def register_handlers(runtime: ServiceRuntime) -> None:
    runtime.handle(ProcedurePublished, projection.store_procedure)
    for event_type, apply in _PROJECTIONS:
        runtime.handle(event_type, apply, concurrency=PROJECTION_CONCURRENCY, scope=projection.applying)
