"""A service adds its own sweeps to the retention pass; one that fails does not stop the others."""

from __future__ import annotations

import logging

import pytest

from services.intake.migrations import history
from services.intake.models import metadata
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from tests.conftest import RuntimeSettingsFactory


async def test_a_failing_sweep_is_logged_and_the_pass_runs_the_next_one(
    runtime_settings: RuntimeSettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = ServiceRuntime("intake", metadata, runtime_settings("intake"), migrations=history)
    await upgrade(runtime.db, history)
    ran: list[str] = []

    async def broken() -> None:
        ran.append("broken")
        raise OSError("the volume is away")

    async def working() -> None:
        ran.append("working")

    runtime.on_retention(broken, name="broken files")
    runtime.on_retention(working, name="working files")
    try:
        with caplog.at_level(logging.ERROR, logger="shared.bus.retention"):
            wait = await runtime.pruner.prune()
        assert ran == ["broken", "working"]
        assert wait == runtime.settings.retention.interval_seconds
        assert [record.getMessage() for record in caplog.records] == [
            "retention: the broken files sweep failed"
        ]
    finally:
        await runtime.db.dispose()
