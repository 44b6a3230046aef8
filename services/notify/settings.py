"""The notify service's own settings: the SMTP server for email, and how delivery retries."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # Implicit TLS (port 465); ``start_tls`` None upgrades when the server offers STARTTLS.
    use_tls: bool = False
    start_tls: bool | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)


class DeliverySettings(BaseSettings):
    """``MOTCUA_NOTIFY_DELIVERY_*``: retries of temporary failures, and the lease that keeps two
    replicas from sending the same message."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_NOTIFY_DELIVERY_", extra="ignore")

    max_attempts: int = Field(default=5, ge=1)
    # Wait before attempt n+1 is backoff_seconds[n-1]; the last value repeats.
    backoff_seconds: list[float] = Field(default=[30.0, 120.0, 600.0, 1800.0], min_length=1)
    # Longer than an SMTP conversation can last, so that a lease never lapses mid-send.
    lease_seconds: float = Field(default=300.0, gt=0)
    # How often a replica looks for due messages when nothing woke it.
    poll_seconds: float = Field(default=5.0, gt=0)
    batch_size: int = Field(default=20, ge=1)
