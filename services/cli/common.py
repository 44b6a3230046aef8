"""What every ``motcua`` command shares: the services, their migration histories and databases, and
the checks of the settings they start with."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from shared.settings import (
    DATABASE_SETTINGS,
    AuthSettings,
    CommonSettings,
    DatabaseUrlError,
    SecretError,
    ServiceName,
)

if TYPE_CHECKING:
    from shared.db import Database
    from shared.migrations import MigrationHistory


SERVICES: tuple[ServiceName, ...] = ("intake", "processing", "notify")


def migration_history(service: ServiceName) -> MigrationHistory:
    from services.intake.migrations import history as intake
    from services.notify.migrations import history as notify
    from services.processing.migrations import history as processing

    histories: dict[ServiceName, MigrationHistory] = {
        "intake": intake,
        "processing": processing,
        "notify": notify,
    }
    return histories[service]


@asynccontextmanager
async def database(service: ServiceName) -> AsyncIterator[Database]:
    """The service's database as the service itself would open it, from the same settings."""
    from shared.db import Database

    database = DATABASE_SETTINGS[service]()
    common = CommonSettings()
    url = database.url(common)
    if database.database_url is None:
        common.ensure_data_dir()
    db = Database(url, schema=database.database_schema)
    try:
        yield db
    finally:
        await db.dispose()


def check_database_urls(services: Sequence[ServiceName]) -> bool:
    """One line per unusable ``MOTCUA_*_DATABASE_URL`` instead of a traceback from the driver."""
    usable = True
    for service in services:
        try:
            DATABASE_SETTINGS[service]().url(CommonSettings())
        except DatabaseUrlError as exc:
            print(f"motcua: {exc}", file=sys.stderr)
            usable = False
    return usable


def check_secret() -> bool:
    """One line saying what is wrong with the JWT secret, instead of a service that signs with it."""
    try:
        AuthSettings().secret  # noqa: B018
    except SecretError as exc:
        print(f"motcua: {exc}", file=sys.stderr)
        return False
    return True
