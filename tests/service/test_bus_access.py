"""Each service's NATS user may read every stream the service consumes, and delete the durables
its groups took over: the permissions table follows the handlers the apps register."""

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
                # A group deletes the durables it took over from: its user may delete those only.
                assert set(spec.replaces) <= set(ACCESS[service].replaced), (service, spec.durable)
            grouped = {name for spec in runtime.consumers for name in spec.replaces}
            assert grouped == set(ACCESS[service].replaced), service
        finally:
            await runtime.db.dispose()
            runtime.tracer_provider.shutdown()
