"""Settings, one pydantic-settings class per concern, all read from ``MOTCUA_*`` variables."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["intake", "processing", "notify"]
MigrationMode = Literal["auto", "manual"]
SERVICE_PORTS: dict[ServiceName, int] = {"intake": 8001, "processing": 8002, "notify": 8003}

# The embedded nats-server listens beside, not on, 4222 so that it never collides with a system NATS.
EMBEDDED_NATS_PORT = 4224


class CommonSettings(BaseSettings):
    """Where the embedded default keeps its files."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_", extra="ignore")

    data_dir: Path = Path("data")

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


class NatsSettings(BaseSettings):
    """How services reach NATS JetStream."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_NATS_", extra="ignore")

    url: str = f"nats://127.0.0.1:{EMBEDDED_NATS_PORT}"
    # 1 for the embedded single server, 3 for a production cluster.
    stream_replicas: int = Field(default=1, ge=1, le=5)
    max_deliver: int = Field(default=6, ge=2)
    ack_wait_seconds: float = Field(default=30.0, gt=0)
    # A handler reports progress while it runs, so it may outlast ack_wait; past this it counts as
    # hung, is cancelled and its message retried.
    handler_timeout_seconds: float = Field(default=120.0, gt=0)
    retry_delays_seconds: list[float] = Field(default=[1.0, 5.0, 15.0, 30.0, 60.0])
    # How long a starting service waits for NATS before it serves without it.
    start_wait_seconds: float = Field(default=10.0, ge=0)

    @property
    def servers(self) -> list[str]:
        """The cluster's nodes: ``url`` is one URL or a comma-separated list of them, and a client
        handed the whole string as one server would refuse it."""
        servers = [server.strip() for server in self.url.split(",") if server.strip()]
        if not servers:
            raise ValueError("MOTCUA_NATS_URL is empty; give nats://host:port, or a comma-separated list")
        return servers


class DatabaseUrlError(ValueError):
    """A database URL that names no database the services can run on."""


# The schemes operators and most tools write, and the async driver the services use for each.
_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def driver_url(url: str, *, variable: str) -> str:
    """``postgresql://…`` and ``postgres://…`` as ``postgresql+asyncpg://…``, ``sqlite:///…`` as
    ``sqlite+aiosqlite:///…``; anything else is refused with one line naming ``variable``.

    The message quotes only the scheme: the rest of a URL may hold a password.
    """
    scheme, separator, rest = url.strip().partition("://")
    driver = _DRIVERS.get(scheme.lower()) if separator else None
    if driver is None:
        named = f"scheme {scheme.lower()!r}" if separator else "no scheme"
        raise DatabaseUrlError(
            f"{variable} names no supported database ({named}); use postgresql://user@host/database "
            "(or postgres://, postgresql+asyncpg://) or sqlite:///path/to/file.db (or sqlite+aiosqlite://)"
        )
    return f"{driver}://{rest}"


class MigrationSettings(BaseSettings):
    """``MOTCUA_DATABASE_MIGRATIONS``: ``auto`` (each service brings its database to the schema it
    needs when it starts) or ``manual`` (an operator runs ``motcua db upgrade``; a service whose
    database is behind refuses to start)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    mode: MigrationMode = Field(default="auto", validation_alias="MOTCUA_DATABASE_MIGRATIONS")


class DatabaseSettings(BaseSettings):
    """One database per service: a SQLite file by default, or any PostgreSQL URL.

    ``MOTCUA_INTAKE_DATABASE_URL`` (and the processing and notify twins) pick the database;
    ``…_DATABASE_SCHEMA`` puts a service's tables in its own PostgreSQL schema, so that several
    services can share one database.
    """

    model_config = SettingsConfigDict(extra="ignore")
    service: ClassVar[ServiceName]

    database_url: str | None = None
    database_schema: str | None = None
    # Connections one process may hold on PostgreSQL: kept open, and opened on top for a burst.
    # Every replica of every service counts against the server's max_connections (100 by default),
    # so two replicas of the three services stay at 90 with these.
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)

    @classmethod
    def url_variable(cls) -> str:
        return f"MOTCUA_{cls.service.upper()}_DATABASE_URL"

    def url(self, common: CommonSettings) -> str:
        """The URL with the driver the services run on, whether or not the operator named it."""
        if self.database_url:
            return driver_url(self.database_url, variable=self.url_variable())
        path = (common.data_dir / f"{self.service}.db").resolve()
        return f"sqlite+aiosqlite:///{path}"


class IntakeDatabaseSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOTCUA_INTAKE_", extra="ignore")
    service: ClassVar[ServiceName] = "intake"


class ProcessingDatabaseSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOTCUA_PROCESSING_", extra="ignore")
    service: ClassVar[ServiceName] = "processing"


class NotifyDatabaseSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOTCUA_NOTIFY_", extra="ignore")
    service: ClassVar[ServiceName] = "notify"


DATABASE_SETTINGS: dict[ServiceName, type[DatabaseSettings]] = {
    "intake": IntakeDatabaseSettings,
    "processing": ProcessingDatabaseSettings,
    "notify": NotifyDatabaseSettings,
}


class AuthSettings(BaseSettings):
    """Bearer tokens for staff: HS256 JWTs signed with ``MOTCUA_JWT_SECRET``.

    Without a secret in the environment, the embedded default generates one into the data folder,
    so that the services and ``motcua token`` agree on it.
    """

    model_config = SettingsConfigDict(env_prefix="MOTCUA_", extra="ignore")

    jwt_secret: str | None = None
    token_ttl_hours: float = 12.0

    secret_file_name: ClassVar[str] = "jwt-secret"

    @cached_property
    def secret(self) -> str:
        if self.jwt_secret:
            return self.jwt_secret
        common = CommonSettings()
        path = common.ensure_data_dir() / self.secret_file_name
        if not path.exists():
            candidate = secrets.token_urlsafe(48)
            try:
                # O_EXCL: when several services start at once, the first one's secret wins.
                with path.open("x", encoding="utf-8") as handle:
                    handle.write(candidate)
                path.chmod(0o600)
            except FileExistsError:
                pass
        return path.read_text(encoding="utf-8").strip()


class HttpSettings(BaseSettings):
    """Where the services listen."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_", extra="ignore")

    host: str = "127.0.0.1"
    intake_port: int = SERVICE_PORTS["intake"]
    processing_port: int = SERVICE_PORTS["processing"]
    notify_port: int = SERVICE_PORTS["notify"]
    # ``MOTCUA_MAX_JSON_BODY_BYTES``: the cap on every request body but intake's uploads (which
    # keep the ``MOTCUA_INTAKE_FILES_*`` limits), checked before routing.
    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024)

    def port(self, service: ServiceName) -> int:
        ports: dict[ServiceName, int] = {
            "intake": self.intake_port,
            "processing": self.processing_port,
            "notify": self.notify_port,
        }
        return ports[service]


class RetentionSettings(BaseSettings):
    """``MOTCUA_RETENTION_*``: how long sent outbox rows and inbox rows are kept."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_RETENTION_", extra="ignore")

    outbox_days: float = Field(default=7.0, gt=0)
    inbox_days: float = Field(default=30.0, gt=0)
    interval_seconds: float = Field(default=3600.0, gt=0)


class OutboxSettings(BaseSettings):
    """How the outbox relay hands events to NATS."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_OUTBOX_", extra="ignore")

    batch_size: int = Field(default=200, ge=1)
    # The relay wakes on every commit; this is only the fallback for rows left by another replica.
    idle_poll_seconds: float = Field(default=1.0, gt=0)
    lease_seconds: float = Field(default=30.0, gt=0)
    publish_timeout_seconds: float = Field(default=5.0, gt=0)
