"""Processing's own settings, read from ``MOTCUA_*`` variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SlaSettings(BaseSettings):
    """``MOTCUA_SLA_*``: how often the armed SLA timers are checked against the open dossiers."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_SLA_", extra="ignore")

    reconcile_interval_seconds: float = Field(default=600.0, gt=0)
    # While the bus is not up yet, how soon to look again.
    bus_wait_seconds: float = Field(default=1.0, gt=0)
