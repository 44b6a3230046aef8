"""Each service's NATS user may read every stream the service consumes: the permissions table
follows the handlers the apps register."""

from __future__ import annotations

from pathlib import Path

from services.intake.app import create_app as create_intake
from services.notify.app import create_app as create_notify
from services.processing.app import create_app as create_processing
from shared.bus.permissions import ACCESS
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings
from tests.conftest import DatabaseSettingsFactory


async def test_every_consumer_of_a_service_reads_a_stream_its_user_may_read(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    for service, create in (
        ("intake", create_intake),
        ("processing", create_processing),
        ("notify", create_notify),
    ):
        settings = RuntimeSettings(
            common=CommonSettings(data_dir=tmp_path / "data"), database=database_settings(service)
        )
        runtime: ServiceRuntime = create(settings).state.runtime
        try:
            readable = {stream.name for stream in ACCESS[service].consumes}
            assert runtime.consumers
            for spec in runtime.consumers:
                assert spec.stream.name in readable, (service, spec.durable)
        finally:
            await runtime.db.dispose()
            runtime.tracer_provider.shutdown()
