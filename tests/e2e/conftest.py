"""End-to-end tier: the three services on a real nats-server of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import RuntimeSettingsFactory
from tests.system import System, running_system, smtp_server  # noqa: F401 - a fixture


@pytest.fixture
async def system(runtime_settings: RuntimeSettingsFactory) -> AsyncIterator[System]:
    async with running_system(runtime_settings) as result:
        yield result
