"""``MOTCUA_SIGN_IN_*``: how staff sessions last and when repeated failures lock an account."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SignInSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOTCUA_SIGN_IN_", extra="ignore")

    # Failed attempts in a row that lock the account, and for how long.
    max_failures: int = Field(default=5, ge=1)
    lockout_minutes: float = Field(default=15.0, gt=0)
    # A session ends after this long without a request, and in any case this long after sign-in.
    idle_minutes: float = Field(default=30.0, gt=0)
    absolute_hours: float = Field(default=10.0, gt=0)
    # The password rules: at least this many characters.
    min_password_length: int = Field(default=10, ge=8)
