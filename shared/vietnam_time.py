"""Instants as people in Vietnam read them: the one formatter for pages, receipts and messages."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

from shared.working_time import VN_TZ

M = TypeVar("M", bound=BaseModel)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
    return moment.astimezone(VN_TZ)


def in_vietnam(moment: datetime) -> datetime:
    """The same instant on Asia/Ho_Chi_Minh's clock (what an API answers with)."""
    return _aware(moment)


def vn_datetime(moment: datetime) -> str:
    """As Vietnamese offices write it: ``09:32 ngày 03/11/2023``."""
    return _aware(moment).strftime("%H:%M ngày %d/%m/%Y")


def en_datetime(moment: datetime) -> str:
    """For English readers: ``09:32 on 03/11/2023 (Vietnam time)``."""
    return _aware(moment).strftime("%H:%M on %d/%m/%Y (Vietnam time)")


def shown_in_vietnam(model: M) -> M:
    """``model`` with every aware datetime field on Vietnam's clock: for a response's validator."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, datetime) and value.tzinfo is not None:
            setattr(model, name, value.astimezone(VN_TZ))
    return model
