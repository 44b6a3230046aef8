"""One email address, as a citizen gives it for their dossier.

A field that takes "an@example.vn, other@example.com" sends every message, one-time codes included,
to whoever wrote the second address. So the field holds exactly one bare address: no display name,
no list, nothing quoted, and an ASCII domain of at least two labels. Stricter than RFC 5322 on
purpose; it is what the mail servers we send through accept from a form.
"""

from __future__ import annotations

import re

MAX_LENGTH = 254
_LOCAL_MAX_LENGTH = 64
# RFC 5322's dot-atom characters: no space, comma, semicolon, angle bracket, quote or second @.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TOP_LEVEL = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")


def check_email_address(value: str) -> str:
    """``value`` without surrounding blanks when it is exactly one address; raises ``ValueError``
    saying what is wrong otherwise."""
    address = value.strip()
    if any(separator in address for separator in ",;"):
        raise ValueError("give one email address, not a list")
    if any(character.isspace() for character in address) or "<" in address or ">" in address:
        raise ValueError("give the bare email address (an@example.vn), without a name or spaces")
    if address.count("@") != 1:
        raise ValueError("an email address has exactly one @")
    if len(address) > MAX_LENGTH:
        raise ValueError(f"an email address has at most {MAX_LENGTH} characters")
    local, _, domain = address.partition("@")
    if len(local) > _LOCAL_MAX_LENGTH or not _LOCAL.fullmatch(local):
        raise ValueError("the part before @ is not a valid mailbox name")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("the part after @ is not a domain name (example.vn)")
    if not _TOP_LEVEL.fullmatch(labels[-1]):
        raise ValueError("the part after @ does not end in a top-level domain (.vn, .com)")
    return address


def one_email_address_or_none(value: str | None) -> str | None:
    """The address when ``value`` is exactly one, else None."""
    if value is None:
        return None
    try:
        return check_email_address(value)
    except ValueError:
        return None
