"""What the embedded default seeds: the catalog of real procedures and the directory of the real
offices their workflows route through, both read from the data files beside this module
(``catalog.toml``, ``directory.toml``), and the demo's people.

The seed agencies and units are seeded on every start. The seed people are not: their names are
placeholders, their mail goes to ``demo.motcua.vn``, and their usernames are predictable, so they
exist only in the demo (``MOTCUA_DEMO=true``), where anyone trying motcua can get a token for any
step of any seed procedure (``motcua token USER``). Elsewhere the first admin is made with
``motcua admin create``.

- every seed unit has an officer ``{unit}-officer`` and a manager (unit head) ``{unit}-manager``;
- every seed agency has a leader ``{agency}-leader``;

where ``{unit}`` and ``{agency}`` are the codes in lower case with dots turned into dashes, e.g.
``h56-syt-btxh-officer`` for unit ``H56.SYT.BTXH`` and ``000-00-12-h56-leader`` for agency
``000.00.12.H56``. The demo users of ``directory.toml`` (``demo-officer``, ``demo-manager``,
``demo-leader``, ``demo-admin``, ``syt-officer``) are seeded beside them.

A seed never overwrites what an admin changed: rows that exist are left as they are, and a
procedure gets its seed version only while no version of it is stored.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.catalog import ProcedureDraft, build_procedure
from services.processing.models import Agency, Person, Unit
from shared.db import insert_ignoring_duplicates
from shared.events import ProcedureVersion
from shared.working_time import HOURS_PER_DAY

DIRECTORY_FILE = Path(__file__).with_name("directory.toml")


_DIRECTORY: dict[str, Any] = tomllib.loads(DIRECTORY_FILE.read_text(encoding="utf-8"))
SEED_AGENCIES: tuple[Agency, ...] = tuple(Agency.model_validate(row) for row in _DIRECTORY["agency"])
SEED_UNITS: tuple[Unit, ...] = tuple(Unit.model_validate(row) for row in _DIRECTORY["unit"])


def username_slug(code: str) -> str:
    """A unit or agency code as it appears in seed usernames: ``H56.SYT.BTXH`` → ``h56-syt-btxh``."""
    return code.lower().replace(".", "-")


def _seed_staff(agencies: Iterable[Agency], units: Iterable[Unit]) -> tuple[Person, ...]:
    people: list[Person] = []
    for unit in units:
        for role, title in (("officer", "Cán bộ"), ("manager", "Phụ trách")):
            username = f"{username_slug(unit.code)}-{role}"
            people.append(
                Person(
                    username=username,
                    full_name=f"{title} {unit.name}",
                    role=role,
                    agency_code=unit.agency_code,
                    unit_code=unit.code,
                    email=f"{username}@demo.motcua.vn",
                )
            )
    for agency in agencies:
        username = f"{username_slug(agency.code)}-leader"
        people.append(
            Person(
                username=username,
                full_name=f"Lãnh đạo {agency.name}",
                role="leader",
                agency_code=agency.code,
                email=f"{username}@demo.motcua.vn",
            )
        )
    return tuple(people)


SEED_PEOPLE: tuple[Person, ...] = tuple(
    Person.model_validate(row) for row in _DIRECTORY["demo_person"]
) + _seed_staff(SEED_AGENCIES, SEED_UNITS)


async def seed_directory(session: AsyncSession, *, demo: bool) -> None:
    """Insert the seed agencies and units that are missing, and with ``demo`` the seed people too;
    never overwrite edits.

    ``ON CONFLICT DO NOTHING`` lets replicas that start together on one database seed it at once.
    """
    seeds: list[tuple[type[Agency | Unit | Person], tuple[Agency | Unit | Person, ...]]] = [
        (Agency, SEED_AGENCIES),
        (Unit, SEED_UNITS),
    ]
    if demo:
        seeds.append((Person, SEED_PEOPLE))
    for kind, rows in seeds:
        statement = insert_ignoring_duplicates(session, inspect(kind).local_table)
        await session.execute(statement.values([row.model_dump() for row in rows]).on_conflict_do_nothing())


CATALOG_FILE = Path(__file__).with_name("catalog.toml")


def _step(entry: dict[str, Any]) -> dict[str, Any]:
    """A step of the seed file: its allotment in ``hours``, or in ``minutes`` (the demo's)."""
    if "minutes" in entry:
        entry = {**entry, "hours": entry.pop("minutes") / 60}
    return entry


def _draft(entry: dict[str, Any]) -> ProcedureDraft:
    """A procedure of the seed file. A document is one original and no copies unless it says; the
    demo's delays may be given in minutes."""
    entry = dict(entry)
    entry["documents"] = [
        {"originals": 1, "copies": 0, **document} for document in entry.get("documents", [])
    ]
    entry["steps"] = [_step(dict(step)) for step in entry["steps"]]
    if "supplement_minutes" in entry:
        entry["supplement_days"] = entry.pop("supplement_minutes") / 60 / HOURS_PER_DAY
    if "stall_minutes" in entry:
        entry["stall_hours"] = entry.pop("stall_minutes") / 60
    if "escalation_minutes" in entry:
        entry["escalation_hours"] = [minutes / 60 for minutes in entry.pop("escalation_minutes")]
    return ProcedureDraft.model_validate(entry)


def seed_drafts(*, demo: bool) -> list[ProcedureDraft]:
    """The procedures of the seed file: the real ones always, the made-up demo ones with ``demo``."""
    seed = tomllib.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    entries = seed.get("procedure", []) + (seed.get("demo_procedure", []) if demo else [])
    return [_draft(entry) for entry in entries]


def seed_catalog(*, demo: bool) -> list[ProcedureVersion]:
    """The seed procedures as version 1, each with its agency's name."""
    names = {agency.code: agency.name for agency in SEED_AGENCIES}
    return [
        build_procedure(draft=draft, agency_name=names[draft.agency_code]) for draft in seed_drafts(demo=demo)
    ]
