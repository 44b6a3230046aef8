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


# The dossier events come through one durable (a group): what waits while a batch is applied comes
# as the next batch, of every type together, applied in one transaction that locks its dossiers'
# rows in one statement. A durable per event type handled most events alone under load, each with
# a transaction, an inbox row and a commit of its own (bench/lifecycle.py). Several loops fetch from
# it: with one, the next batch waited for the last one's commit. On PostgreSQL four, whose
# transactions overlap, so that one's round trips, each a turn of a busy event loop, hide another's:
# with two, intake applied a dossier's last event up to 2.7 s after processing's answer (p99 in
# bench/lifecycle.py), with four 0.7-0.9 s. On SQLite two, whose transactions take turns at the one
# writer anyway. The copy ends the same whatever order events arrive in (see ``projection``).
DOSSIER_EVENTS = "dossier"


def dossier_concurrency(runtime: ServiceRuntime) -> int:
    return 4 if runtime.db.is_postgres else 2


def register_handlers(runtime: ServiceRuntime) -> None:
    runtime.handle(ProcedurePublished, projection.store_procedure)
    for event_type, apply in _PROJECTIONS:
        runtime.handle(
            event_type,
            apply,
            group=DOSSIER_EVENTS,
            concurrency=dossier_concurrency(runtime),
            scope=projection.applying,
        )
