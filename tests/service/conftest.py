"""Service tier: the three services with their real databases and handlers, on an in-process bus
(``shared.bus.in_process``) instead of NATS."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator

import pytest

from shared.bus.in_process import InProcessBus
from tests.conftest import BusAddress, RuntimeSettingsFactory
from tests.system import System, running_system, smtp_server  # noqa: F401 - a fixture


@pytest.fixture
def bus_address() -> BusAddress:
    # Nothing listens here, and nothing connects: the in-process bus carries every event.
    return BusAddress("nats://127.0.0.1:9", defaultdict(lambda: "unused"))


@pytest.fixture
def bus() -> InProcessBus:
    return InProcessBus()


@pytest.fixture
async def system(runtime_settings: RuntimeSettingsFactory, bus: InProcessBus) -> AsyncIterator[System]:
    async with running_system(runtime_settings, bus=bus) as result:
        yield result
