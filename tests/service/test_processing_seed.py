"""What processing seeds when it starts: the real offices and procedures always, the demo's users and
procedure only with ``MOTCUA_DEMO=true``.

Service tier: processing's own start on a real database, with no NATS to reach (the bus keeps
trying in the background while the test looks at the tables).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from services.processing.app import create_app
from services.processing.catalog import latest_versions
from services.processing.models import Agency, Person, Unit
from services.processing.seed import SEED_AGENCIES, SEED_PEOPLE, SEED_UNITS
from shared.nats_server import free_port
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings, NatsSettings
from tests.conftest import DatabaseSettingsFactory


async def _seeded(
    database_settings: DatabaseSettingsFactory, tmp_path: Path, *, demo: bool
) -> tuple[set[str], set[str], set[str], set[str]]:
    """People, agencies, units and procedures processing holds once it has started."""
    settings = RuntimeSettings(
        common=CommonSettings(data_dir=tmp_path / "data", demo=demo),
        nats=NatsSettings(url=f"nats://127.0.0.1:{free_port()}", start_wait_seconds=0),
        database=database_settings("processing"),
    )
    runtime: ServiceRuntime = create_app(settings).state.runtime
    await runtime.start()
    try:
        async with runtime.db.session() as session:
            people = set((await session.exec(select(col(Person.username)))).all())
            agencies = set((await session.exec(select(col(Agency.code)))).all())
            units = set((await session.exec(select(col(Unit.code)))).all())
            procedures = {procedure.code for procedure in await latest_versions(session)}
    finally:
        await runtime.stop()
    return people, agencies, units, procedures


@pytest.mark.parametrize("db_backend", ["sqlite", "postgres"], indirect=True)
async def test_without_the_demo_no_demo_user_nor_demo_procedure_exists(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    people, agencies, units, procedures = await _seeded(database_settings, tmp_path, demo=False)
    assert people == set()
    assert agencies == {agency.code for agency in SEED_AGENCIES}
    assert units == {unit.code for unit in SEED_UNITS}
    assert len(procedures) == 7
    assert "DEMO-SLA" not in procedures


async def test_the_demo_seeds_its_users_and_its_procedure(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    people, _, _, procedures = await _seeded(database_settings, tmp_path, demo=True)
    assert people == {person.username for person in SEED_PEOPLE}
    assert {"demo-officer", "demo-admin"} <= people
    assert "DEMO-SLA" in procedures
