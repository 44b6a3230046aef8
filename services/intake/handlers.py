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

_PROJECTIONS: list[tuple[type[Any], Callable[..., Awaitable[None]]]] = [
    (ProcedurePublished, projection.store_procedure),
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


def register_handlers(runtime: ServiceRuntime) -> None:
    for event_type, apply in _PROJECTIONS:
        runtime.handle(event_type, apply)
