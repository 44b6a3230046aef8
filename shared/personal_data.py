"""Personal data masked out of free text that leaves the database: error messages copied into
dead-letter headers (and, through the same function, anything else that quotes a failure).

CCCDs are 12 digits, Vietnamese mobile numbers 10 digits from 0 (or +84 and 9), emails the usual
shape; each becomes a fixed marker, so a reader still sees that something was there.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_CCCD = re.compile(r"(?<!\d)\d{12}(?!\d)")
_PHONE = re.compile(r"(?<![\d+])(?:\+?84|0)\d{9}(?!\d)")


def mask_personal_data(text: str) -> str:
    """``text`` with every CCCD, phone number and email address replaced by a marker."""
    text = _EMAIL.sub("<email>", text)
    text = _CCCD.sub("<cccd>", text)
    return _PHONE.sub("<phone>", text)
