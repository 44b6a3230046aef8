"""Personal data masked out of free text that leaves a service: error messages copied into
dead-letter headers, and every log record, masked as it is made.

CCCDs are 12 digits, Vietnamese mobile numbers 10 digits from 0 (or +84 and 9), emails the usual
shape; each becomes a fixed marker, so a reader still sees that something was there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Not inside a longer word or a dashed id: the last group of a UUID may be twelve digits.
_CCCD = re.compile(r"(?<![\w-])\d{12}(?![\w-])")
_PHONE = re.compile(r"(?<![\w+-])(?:\+?84|0)\d{9}(?![\w-])")


def mask_personal_data(text: str) -> str:
    """``text`` with every CCCD, phone number and email address replaced by a marker."""
    text = _EMAIL.sub("<email>", text)
    text = _CCCD.sub("<cccd>", text)
    return _PHONE.sub("<phone>", text)


class PersonalDataFilter(logging.Filter):
    """Masks the rendered message and the exception text of every record it sees."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def _masked(value: object) -> object:
    text = value if isinstance(value, str) else str(value)
    masked = mask_personal_data(text)
    return value if masked == text else masked


def mask_record(record: logging.LogRecord) -> None:
    """Mask ``record`` in place. Its arguments stay apart from its format where they can, since some
    formatters read them (uvicorn's access log takes them as a tuple)."""
    if getattr(record, "personal_data_masked", False):
        return
    record.personal_data_masked = True
    original_msg, original_args = record.msg, record.args
    if isinstance(record.msg, str):
        record.msg = mask_personal_data(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_masked(arg) for arg in record.args)
    elif isinstance(record.args, Mapping):
        record.args = {key: _masked(arg) for key, arg in record.args.items()}
    try:
        message = record.getMessage()
    except Exception:
        # A masked number no longer fits its %d: render the original, then mask the whole line.
        record.msg, record.args = original_msg, original_args
        try:
            message = record.getMessage()
        except Exception:
            # Arguments that never fitted their format: logging reports that itself later.
            return
        record.msg, record.args = mask_personal_data(message), None
    else:
        if mask_personal_data(message) != message:
            # Personal data made of several arguments or of an object's text: render and mask it.
            record.msg, record.args = mask_personal_data(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = PersonalDataFilter._formatter.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_personal_data(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_personal_data(record.stack_info)


_installed = False


def install_log_masking() -> None:
    """Mask every log record as it is made, whichever logger and handler it goes to (a handler added
    later, a test's capture, uvicorn's). Installing twice changes nothing."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        mask_record(record)
        return record

    logging.setLogRecordFactory(masked_record)
