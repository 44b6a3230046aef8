"""The notify service's own settings: one class per outside channel (SMTP for email, the SMS
gateway, webhook endpoints), how delivery retries, and the daily digest."""

from __future__ import annotations

from datetime import time
from ipaddress import ip_address
from typing import Self

from pydantic import BaseModel, Field, HttpUrl, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import HttpSettings


def is_loopback(url: HttpUrl) -> bool:
    """``url`` stays on this machine: nothing in between can read what is sent in clear."""
    host = (url.host or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(url: HttpUrl, *, what: str, allow_variable: str) -> None:
    """Refuse a plain-HTTP ``url`` to another machine: citizens' phone numbers and dossier events
    would cross the network readable. Raised while settings are read, so the service does not start."""
    if url.scheme != "https" and not is_loopback(url):
        raise ValueError(
            f"{what} {url} is not https: personal data would travel in clear; use https, "
            f"or set {allow_variable}=true to allow it"
        )


class SmtpSettings(BaseSettings):
    """``MOTCUA_NOTIFY_SMTP_*``. Off by default, so that the embedded default runs without a mail
    server: email notifications are then stored and wait, pending, until it is switched on."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_NOTIFY_SMTP_", extra="ignore")

    enabled: bool = False
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    from_address: str = "motcua@localhost"
    username: str | None = None
    password: str | None = None
    # Implicit TLS (port 465), or else STARTTLS, which is required: a server that does not offer it
    # gets nothing (the attempt fails and is retried). ``allow_plaintext`` lets the conversation go
    # in clear, for a relay on the same host or a test server; ``start_tls`` None then upgrades only
    # when the server offers STARTTLS, and False never does.
    use_tls: bool = False
    start_tls: bool | None = None
    allow_plaintext: bool = False
    timeout_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _encrypted(self) -> Self:
        if self.enabled and not self.use_tls and self.start_tls is False and not self.allow_plaintext:
            raise ValueError(
                "MOTCUA_NOTIFY_SMTP_START_TLS=false sends mail, with citizens' addresses, in clear; "
                "use STARTTLS or MOTCUA_NOTIFY_SMTP_USE_TLS=true, or set "
                "MOTCUA_NOTIFY_SMTP_ALLOW_PLAINTEXT=true to allow it"
            )
        return self

    @property
    def starts_tls(self) -> bool | None:
        """What to tell aiosmtplib: STARTTLS required (True), never (False) or if offered (None)."""
        if self.use_tls:
            return False
        return self.start_tls if self.allow_plaintext else True


class DeliverySettings(BaseSettings):
    """``MOTCUA_NOTIFY_DELIVERY_*``: retries of temporary failures, and the lease that keeps two
    replicas from sending the same message."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_NOTIFY_DELIVERY_", extra="ignore")

    max_attempts: int = Field(default=5, ge=1)
    # Wait before attempt n+1 is backoff_seconds[n-1]; the last value repeats.
    backoff_seconds: list[float] = Field(default=[30.0, 120.0, 600.0, 1800.0], min_length=1)
    # A lease lasts the longest one attempt may take on its channel (from that channel's timeout)
    # plus this much: the time between taking the lease and starting to send, and clocks of
    # replicas that disagree a little.
    lease_margin_seconds: float = Field(default=30.0, gt=0)
    # How often a replica looks for due messages when nothing woke it.
    poll_seconds: float = Field(default=5.0, gt=0)
    # Conversations with one channel's provider in flight at once, per replica; also how many
    # messages a courier claims at a time, so that each is sent as soon as it is claimed.
    concurrency: int = Field(default=8, ge=1)


class SmsSettings(BaseSettings):
    """``MOTCUA_NOTIFY_SMS_*``: an HTTP SMS gateway. Off by default, like email: SMS notifications
    are stored and wait, pending, until it is switched on.

    Quiet hours (Vietnam time) hold non-urgent citizen SMS until they end; a start after the end
    spans midnight. Equal start and end mean no quiet hours.
    """

    model_config = SettingsConfigDict(env_prefix="MOTCUA_NOTIFY_SMS_", extra="ignore")

    enabled: bool = False
    gateway_url: HttpUrl | None = None
    # Sent as ``Authorization: Bearer …`` to the gateway.
    api_token: str | None = None
    # The brandname the gateway shows as the sender.
    sender: str = "MOTCUA"
    timeout_seconds: float = Field(default=10.0, gt=0)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(7, 0)
    # The gateway's delivery reports must carry ``Authorization: Bearer <report_token>``; reports
    # are refused while it is unset.
    report_token: str | None = None
    # A plain-HTTP gateway_url off this machine is refused unless this is set.
    allow_plaintext: bool = False

    @model_validator(mode="after")
    def _encrypted(self) -> Self:
        if self.enabled and self.gateway_url is not None and not self.allow_plaintext:
            require_https(
                self.gateway_url,
                what="the SMS gateway_url",
                allow_variable="MOTCUA_NOTIFY_SMS_ALLOW_PLAINTEXT",
            )
        return self


class WebhookEndpoint(BaseModel):
    """One portal that receives dossier events as signed POSTs."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    url: HttpUrl
    # The HMAC-SHA256 key the receiver verifies ``X-Motcua-Signature`` with.
    secret: str = Field(min_length=16)
    # Event types to send, shell-style patterns: "dossier.*" is every citizen-visible change.
    events: list[str] = Field(default=["dossier.*"], min_length=1)


class WebhookSettings(BaseSettings):
    """``MOTCUA_NOTIFY_WEBHOOK_*``; the endpoints as JSON, e.g.
    ``MOTCUA_NOTIFY_WEBHOOK_ENDPOINTS='[{"name": "dvcqg", "url": "https://…", "secret": "…"}]'``."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_NOTIFY_WEBHOOK_", extra="ignore")

    endpoints: list[WebhookEndpoint] = []
    timeout_seconds: float = Field(default=10.0, gt=0)
    # A plain-HTTP endpoint off this machine is refused unless this is set.
    allow_plaintext: bool = False

    @model_validator(mode="after")
    def _encrypted(self) -> Self:
        if not self.allow_plaintext:
            for endpoint in self.endpoints:
                require_https(
                    endpoint.url,
                    what=f"the webhook endpoint {endpoint.name!r}",
                    allow_variable="MOTCUA_NOTIFY_WEBHOOK_ALLOW_PLAINTEXT",
                )
        return self

    def endpoint(self, name: str) -> WebhookEndpoint | None:
        return next((endpoint for endpoint in self.endpoints if endpoint.name == name), None)


class InboxStreamSettings(BaseSettings):
    """``MOTCUA_NOTIFY_INBOX_STREAM_*``: the live feed of the inbox (Server-Sent Events)."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_NOTIFY_INBOX_STREAM_", extra="ignore")

    # Open streams per user and replica: a few browser tabs, not a connection flood.
    max_per_user: int = Field(default=3, ge=1)
    # What a refused stream is told to wait before trying again.
    retry_after_seconds: int = Field(default=30, ge=1)
    # How often an open stream asks the directory copy whether its user is still active.
    active_check_seconds: float = Field(default=30.0, gt=0)


class DigestSettings(BaseSettings):
    """``MOTCUA_NOTIFY_DIGEST_*``: when the daily digest goes out, Vietnam time."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_NOTIFY_DIGEST_", extra="ignore")

    at: time = time(7, 30)
    # At most this many alerts are listed one by one; the counts cover them all.
    max_listed: int = Field(default=50, ge=1)


def _staff_pages_origins() -> list[str]:
    port = HttpSettings().processing_port
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


class CorsSettings(BaseSettings):
    """``MOTCUA_NOTIFY_CORS_ORIGINS``: the origins whose pages may call notify from a browser (a JSON
    list): processing's, where the manager's board reads and acknowledges alerts with a short-lived
    bearer token. Nothing else is allowed, and no cookie is ever sent across."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_NOTIFY_CORS_", extra="ignore")

    origins: list[str] = Field(default_factory=_staff_pages_origins)
