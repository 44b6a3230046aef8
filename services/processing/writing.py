"""A change's rows, written on the driver (``DriverStatement``) when the change commits.

The domain works on ORM objects (the dossier, its steps) and the ORM would write what changed at
the session's flush: a unit of work that cost more CPU than the statements it sends, on the path
every officer action takes. ``write_change`` sends the same statements itself: the dossier's
changed columns, each step started or changed, and the audit row, then takes the objects out of
the session (they stay readable, detached), so that the flush finds nothing left to write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, insert, inspect, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.models import Dossier, DossierHistory, DossierStep
from shared.db import table_of
from shared.driver_statements import DriverStatement

_DOSSIERS = table_of(Dossier)
_STEPS = table_of(DossierStep)
# The changed columns are the statements' parameters besides the key: one SQL per set of them.
_WRITE_DOSSIER = DriverStatement(update(_DOSSIERS).where(_DOSSIERS.c.code == bindparam("dossier")))
_WRITE_STEP = DriverStatement(update(_STEPS).where(_STEPS.c.id == bindparam("step")))
_ADD_STEP = DriverStatement(insert(_STEPS).returning(_STEPS.c.id))
_ADD_HISTORY = DriverStatement(insert(table_of(DossierHistory)))


async def write_change(
    session: AsyncSession, *, dossier: Dossier, steps: Iterable[DossierStep], history: Mapping[str, Any]
) -> None:
    """Write what the change did to ``dossier`` and ``steps`` (objects of ``session``) and its
    ``history`` row, then detach the objects from the session."""
    changed = _changed(dossier)
    if changed:
        await _WRITE_DOSSIER.run(session, {**changed, "dossier": dossier.code})
    for step in steps:
        state = inspect(step)
        if state.pending:
            values = {
                column.key: getattr(step, column.key) for column in _STEPS.columns if column.key != "id"
            }
            [(step.id,)] = await _ADD_STEP.rows(session, values)
        elif changed := _changed(step):
            await _WRITE_STEP.run(session, {**changed, "step": step.id})
        if state.pending or state.persistent:
            session.expunge(step)
    await _ADD_HISTORY.run(session, history)
    session.expunge(dossier)


def _changed(row: Dossier | DossierStep) -> dict[str, Any]:
    """The columns set since the object was loaded, with their values now."""
    state = inspect(row)
    return {key: getattr(row, key) for key in state.committed_state}
