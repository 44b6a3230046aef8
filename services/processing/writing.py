"""A change's rows, and a registered dossier's, read and written on the driver (``DriverStatement``).

The domain works on objects of the ORM's classes (the dossier, its steps), but a change neither
loads them through the ORM nor lets it write them: its unit of work cost more CPU than the
statements it sends, on the path every officer action takes. ``read_for_change`` reads the dossier
(locked) and its steps as objects in no session (``Detached``), which track what is set on them;
``write_change`` sends the statements itself: the dossier's changed columns, each step started or
changed, and the audit row. No flush ever finds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, insert, inspect, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.models import Dossier, DossierHistory, DossierStep
from shared.db import Detached, table_of
from shared.driver_statements import DriverInsert, DriverStatement

_DOSSIERS = Detached(Dossier)
_STEPS = Detached(DossierStep)
_DOSSIER_COLUMNS = len(_DOSSIERS.table.columns)
# The dossier with each step it has started, one row a step (one row of NULL steps when it has
# none), in one round trip; the dossier's columns are read once (``repeated``). FOR UPDATE (of the
# dossier) on PostgreSQL makes two officers racing on one dossier take turns; SQLite's BEGIN
# IMMEDIATE already serialises writers. The loser then meets the winner's state.
_READ_FOR_CHANGE = DriverStatement(
    select(*_DOSSIERS.table.columns, *_STEPS.table.columns)
    .select_from(
        _DOSSIERS.table.outerjoin(_STEPS.table, _STEPS.table.c.dossier_code == _DOSSIERS.table.c.code)
    )
    .where(_DOSSIERS.table.c.code == bindparam("code"))
    .order_by(_STEPS.table.c.step_index)
    .with_for_update(of=_DOSSIERS.table),
    repeated=_DOSSIER_COLUMNS,
)
_LOOK_AT_DOSSIER = DriverStatement(_DOSSIERS.select().where(_DOSSIERS.table.c.code == bindparam("code")))
# The changed columns are the statements' parameters besides the key: one SQL per set of them.
_WRITE_DOSSIER = DriverStatement(
    update(_DOSSIERS.table).where(_DOSSIERS.table.c.code == bindparam("dossier"))
)
_WRITE_STEP = DriverStatement(update(_STEPS.table).where(_STEPS.table.c.id == bindparam("step")))
_ADD_STEP = DriverStatement(insert(_STEPS.table).returning(_STEPS.table.c.id))
_ADD_HISTORY = DriverStatement(insert(table_of(DossierHistory)))
_COLUMNS = [column.key for column in _DOSSIERS.table.columns]
_ADD_DOSSIER = DriverInsert(
    _DOSSIERS.table, _COLUMNS, skip_duplicates=["code"], returning=[_DOSSIERS.table.c.code]
)


async def add_dossier(session: AsyncSession, *, dossier: Dossier, history: Mapping[str, Any]) -> bool:
    """Write the new ``dossier`` (an object in no session) and its ``history`` row; ``False``, and
    nothing written, when a dossier of its code is there already."""
    if not await _ADD_DOSSIER.rows(session, [{key: getattr(dossier, key) for key in _COLUMNS}]):
        return False
    await _ADD_HISTORY.run(session, history)
    return True


async def read_for_change(session: AsyncSession, code: str) -> tuple[Dossier, list[DossierStep]] | None:
    """The dossier, locked for the change, and every step it has started, in order; ``None`` when
    there is no such dossier."""
    found = await _READ_FOR_CHANGE.rows(session, {"code": code})
    if not found:
        return None
    steps = [_STEPS.of(row[_DOSSIER_COLUMNS:]) for row in found if row[_DOSSIER_COLUMNS] is not None]
    return _DOSSIERS.of(found[0][:_DOSSIER_COLUMNS]), steps


async def read_dossier(session: AsyncSession, code: str) -> Dossier | None:
    """The dossier, to be read only (an object in no session, not locked)."""
    found = await _LOOK_AT_DOSSIER.rows(session, {"code": code})
    return _DOSSIERS.of(found[0]) if found else None


async def write_change(
    session: AsyncSession, *, dossier: Dossier, steps: Iterable[DossierStep], history: Mapping[str, Any]
) -> None:
    """Write what the change did to ``dossier`` and ``steps`` (read by ``read_for_change``, or new)
    and its ``history`` row."""
    changed = _changed(dossier)
    if changed:
        await _WRITE_DOSSIER.run(session, {**changed, "dossier": dossier.code})
    for step in steps:
        if inspect(step).key is None:
            values = {
                column.key: getattr(step, column.key) for column in _STEPS.table.columns if column.key != "id"
            }
            [(step.id,)] = await _ADD_STEP.rows(session, values)
        elif changed := _changed(step):
            await _WRITE_STEP.run(session, {**changed, "step": step.id})
    await _ADD_HISTORY.run(session, history)


def _changed(row: Dossier | DossierStep) -> dict[str, Any]:
    """The columns set since the object was read, with their values now."""
    state = inspect(row)
    return {key: getattr(row, key) for key in state.committed_state}
