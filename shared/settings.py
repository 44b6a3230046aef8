"""Settings, one pydantic-settings class per concern, all read from ``MOTCUA_*`` variables."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.private_files import create_private_file, private_dir

ServiceName = Literal["intake", "processing", "notify"]
MigrationMode = Literal["auto", "manual"]
SERVICE_PORTS: dict[ServiceName, int] = {"intake": 8001, "processing": 8002, "notify": 8003}

# The embedded nats-server listens beside, not on, 4222 so that it never collides with a system NATS.
EMBEDDED_NATS_PORT = 4224
# Where the embedded nats-server keeps its users' generated passwords, under the data folder.
NATS_CREDENTIALS_DIR_NAME = "nats-users"


class CommonSettings(BaseSettings):
    """Where the embedded default keeps its files, and whether it is the demo.

    ``MOTCUA_DEMO=true`` (``make up`` sets it) seeds the demo users and the ``DEMO-SLA`` procedure,
    whose usernames anyone can read in this repository; without it no demo account exists.
    """

    model_config = SettingsConfigDict(env_prefix="MOTCUA_", extra="ignore")

    data_dir: Path = Path("data")
    demo: bool = False

    def ensure_data_dir(self) -> Path:
        """The data folder, 0700: it holds the databases, the documents and the generated secrets."""
        return private_dir(self.data_dir)


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
    # ``MOTCUA_NATS_USER`` / ``MOTCUA_NATS_PASSWORD``: this process's NATS user. Unset, the embedded
    # default's generated password for the service's own user is read from the data folder.
    user: str | None = None
    password: str | None = None

    def credentials(self, user: str, common: CommonSettings) -> tuple[str, str] | None:
        """The NATS user and password to connect as, ``user`` being the service's own (or
        ``operator``); None when neither the settings nor the data folder hold one (a NATS that
        takes anonymous clients)."""
        if self.user:
            return self.user, self.password or ""
        path = common.data_dir / NATS_CREDENTIALS_DIR_NAME / user
        try:
            return user, path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None

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
    # Connections one process may hold on PostgreSQL: for requests, kept open once opened, plus any
    # opened on top for a burst and closed once it is over (when as many as are kept sit idle); and
    # the event flow's own (the outbox relay, the consumers), kept open. Each connection closed and
    # opened again costs the server a new backend and the service a new handshake: with 5 kept,
    # steady load opened one for most requests. Every replica of every service counts against the
    # server's max_connections (100 by default): two replicas of the three services keep 72 open
    # with these, and reach 90 only in a burst.
    database_pool_size: int = Field(default=8, ge=1)
    database_max_overflow: int = Field(default=3, ge=0)
    database_flow_pool_size: int = Field(default=4, ge=1)

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


MINIMUM_SECRET_BYTES = 32

# Secrets that have been published (the old compose file's literal) or that anyone would try first.
KNOWN_SECRETS = frozenset(
    {
        "change-me-to-a-long-random-secret",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "jwt-secret",
        "password",
        "motcua",
        "motcua-secret",
    }
)


class SecretError(ValueError):
    """A JWT secret the services must not sign with; the message is one line an operator can act on."""


def checked_secret(secret: str, *, source: str) -> str:
    """``secret`` when it is at least 32 bytes and not a known one; ``SecretError`` naming
    ``source`` otherwise. Whoever knows the secret can sign an admin's token."""
    value = secret.strip()
    if not value:
        raise SecretError(f"{source} is empty; set a random secret of {MINIMUM_SECRET_BYTES} bytes or more")
    if value.lower() in KNOWN_SECRETS:
        raise SecretError(f"{source} is a published example secret; set a random one of its own")
    if len(value.encode()) < MINIMUM_SECRET_BYTES:
        raise SecretError(
            f"{source} is {len(value.encode())} bytes long; use a random secret of "
            f"{MINIMUM_SECRET_BYTES} bytes or more (e.g. `openssl rand -base64 48`)"
        )
    return value


class AuthSettings(BaseSettings):
    """Bearer tokens for staff: HS256 JWTs signed with one secret the services share.

    The secret comes from ``MOTCUA_JWT_SECRET``, or from the file ``MOTCUA_JWT_SECRET_FILE`` names (a
    compose or Kubernetes secret). Either must hold 32 bytes or more and no published example, or
    the service refuses to start. With neither set (the embedded default), a random secret is
    generated once into ``{data_dir}/jwt-secret`` at 0600, so that the services and
    ``motcua token`` agree on it.
    """

    model_config = SettingsConfigDict(env_prefix="MOTCUA_", extra="ignore")

    jwt_secret: str | None = None
    jwt_secret_file: Path | None = None
    token_ttl_hours: float = 12.0

    secret_file_name: ClassVar[str] = "jwt-secret"

    @cached_property
    def secret(self) -> str:
        """The checked secret; ``SecretError`` when there is none the services may sign with."""
        if self.jwt_secret_file is not None:
            return checked_secret(
                _read_secret(self.jwt_secret_file), source=f"the secret file {self.jwt_secret_file}"
            )
        if self.jwt_secret is not None:
            return checked_secret(self.jwt_secret, source="MOTCUA_JWT_SECRET")
        path = CommonSettings().ensure_data_dir() / self.secret_file_name
        # False: it exists, or a service starting beside this one wrote it first; either way it is read.
        create_private_file(path, secrets.token_urlsafe(48))
        return checked_secret(_read_secret(path), source=f"the generated secret file {path}")


def _read_secret(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SecretError(f"the secret file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"the secret file {path} cannot be read: {exc.__class__.__name__}") from exc


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
    # ``MOTCUA_<SVC>_INTERNAL_PORT``: when set, the metrics and the API docs are served only there
    # (on ``MOTCUA_INTERNAL_HOST``, this machine by default) and are 404 on the public port. Unset,
    # the public port serves them, as the embedded default does.
    internal_host: str = "127.0.0.1"
    intake_internal_port: int | None = Field(default=None, ge=1, le=65535)
    processing_internal_port: int | None = Field(default=None, ge=1, le=65535)
    notify_internal_port: int | None = Field(default=None, ge=1, le=65535)

    def port(self, service: ServiceName) -> int:
        ports: dict[ServiceName, int] = {
            "intake": self.intake_port,
            "processing": self.processing_port,
            "notify": self.notify_port,
        }
        return ports[service]

    def internal_port(self, service: ServiceName) -> int | None:
        ports: dict[ServiceName, int | None] = {
            "intake": self.intake_internal_port,
            "processing": self.processing_internal_port,
            "notify": self.notify_internal_port,
        }
        return ports[service]


# Five years: past a dossier's open life (months at most, supplements and apologies included) and the
# year in which its outcome may be taken to court, with margin for an inspection that asks.
FIVE_YEARS_DAYS = 5 * 365.0


class RetentionSettings(BaseSettings):
    """``MOTCUA_RETENTION_*``: how long sent outbox rows and inbox rows are kept, how long the streams
    keep their messages (0: for ever), and how long notify keeps notifications it is done with.

    The services' databases are the record of a dossier; the streams are the bus, keeping events
    only as long as a read copy may have to be rebuilt from them or an operator may replay them.
    """

    model_config = SettingsConfigDict(env_prefix="MOTCUA_RETENTION_", extra="ignore")

    outbox_days: float = Field(default=7.0, gt=0)
    inbox_days: float = Field(default=30.0, gt=0)
    interval_seconds: float = Field(default=3600.0, gt=0)
    # Dossier events carry applicants' names, CCCDs, phones and addresses (Decree 13/2023: kept no
    # longer than their purpose needs).
    dossier_stream_days: float = Field(default=FIVE_YEARS_DAYS, ge=0)
    # Staff names and emails; processing publishes the whole directory again at every start, so a
    # limit never loses a current entry.
    directory_stream_days: float = Field(default=FIVE_YEARS_DAYS, ge=0)
    # Procedure versions hold no personal data, and every version a dossier was submitted under
    # must stay readable for as long as that dossier matters: kept for ever.
    catalog_stream_days: float = Field(default=0.0, ge=0)
    # Notify keeps the alerts it acts on in its own table; the stream only carries them there.
    alert_stream_days: float = Field(default=365.0, ge=0)
    # Time for an operator to look at a dead letter and replay it.
    dead_letter_stream_days: float = Field(default=90.0, ge=0)
    # Notifications delivered or given up on: the proof that a citizen was told of a decision, for
    # as long as the decision may be contested; pending ones are never deleted.
    notification_days: float = Field(default=FIVE_YEARS_DAYS, gt=0)


class OutboxSettings(BaseSettings):
    """How the outbox relay hands events to NATS."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_OUTBOX_", extra="ignore")

    batch_size: int = Field(default=200, ge=1)
    # The relay wakes on every commit; this is only the fallback for rows left by another replica.
    idle_poll_seconds: float = Field(default=1.0, gt=0)
    lease_seconds: float = Field(default=30.0, gt=0)
    publish_timeout_seconds: float = Field(default=5.0, gt=0)
