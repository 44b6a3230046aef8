"""Personal data masked out of free text that leaves a service: error messages copied into
dead-letter headers, and every log record the services' handler emits.

CCCDs are 12 digits, Vietnamese mobile numbers 10 digits from 0 (or +84 and 9), emails the usual
shape; each becomes a fixed marker, so a reader still sees that something was there.
"""

from __future__ import annotations

import logging
import re

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
    """Masks personal data in every record a handler emits: a message or an exception may quote an
    applicant's CCCD, phone or email (a failed SQL statement, a request line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_personal_data(record.getMessage())
        record.args = None
        if record.exc_info:
            # The traceback's text is cached on the record, so the formatter prints the masked one.
            record.exc_text = mask_personal_data(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
