"""Message templates: plain-text Jinja2 files shipped in the package, one pair per event type,
language and channel: ``templates/{language}/{event_type}.{channel}.subject.j2`` and ``….body.j2``.
A channel without its own pair uses the event type's common one, ``{event_type}.subject.j2``.
An admin's override (see ``templates_admin``) is rendered from its sources instead of the files."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import PackageLoader, StrictUndefined, Template, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

from shared.events import DossierStatus
from shared.vietnam_time import en_datetime, vn_datetime

_NAME_PART = re.compile(r"^[a-z][a-z0-9_.-]*$")
# Overrides are few and edited rarely; the bound only keeps abandoned edits from piling up.
_COMPILED_SOURCES_LIMIT = 256


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str


@dataclass(frozen=True)
class MessageSources:
    """The Jinja2 sources of a message's subject and body."""

    subject: str
    body: str


def vn_status(value: int) -> str:
    """A status code as the national portal names it in Vietnamese: ``Đã xử lý xong``."""
    return DossierStatus(value).vietnamese_name


def en_status(value: int) -> str:
    """A status code for English readers: ``resolved (9)``."""
    return f"{_ENGLISH_STATUS_NAMES[DossierStatus(value)]} ({int(value)})"


_ENGLISH_STATUS_NAMES = {
    DossierStatus.RECEIVING: "submitted",
    DossierStatus.NEW: "accepted",
    DossierStatus.DENIED: "not accepted",
    DossierStatus.PROCESSING: "in process",
    DossierStatus.WAITING: "supplement requested",
    DossierStatus.PAYING: "payment requested",
    DossierStatus.CANCELLED: "withdrawn",
    DossierStatus.UNRESOLVED: "stopped",
    DossierStatus.RELEASING: "resolved",
    DossierStatus.DONE: "result returned",
}


def create_environment() -> SandboxedEnvironment:
    # Admins write overrides, so a template is input: the sandbox keeps it from reaching Python's
    # internals (``__globals__``, ``__class__``) and from mutating what it is given.
    environment = ImmutableSandboxedEnvironment(
        loader=PackageLoader("services.notify", "templates"),
        # Plain text: nothing to escape, and a missing variable is a bug, not an empty string.
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # The shipped files change with a release, not while the service runs.
        auto_reload=False,
    )
    environment.filters["vn_datetime"] = vn_datetime
    environment.filters["en_datetime"] = en_datetime
    environment.filters["vn_status"] = vn_status
    environment.filters["en_status"] = en_status
    return environment


class TemplateRenderer:
    """Renders the subject and body of a message for an event type in a language."""

    def __init__(self, environment: SandboxedEnvironment | None = None) -> None:
        self.environment = environment or create_environment()
        self._compiled: dict[str, Template] = {}
        # The shipped file each (event type, language, channel, part) resolved to: looking for a
        # channel's own file that does not exist is a file system miss every time, never cached.
        self._shipped: dict[tuple[str, str, str], Template] = {}

    def render(
        self,
        event_type: str,
        language: str,
        context: Mapping[str, Any],
        *,
        channel: str = "inbox",
        override: MessageSources | None = None,
    ) -> RenderedMessage:
        """The message from ``override`` when given, else from the shipped files.

        Raises ``jinja2.TemplateNotFound`` when there is no template for the pair, and
        ``jinja2.UndefinedError`` when the context lacks a variable the template uses."""
        for part in (event_type, language, channel):
            if not _NAME_PART.match(part):
                raise ValueError(f"invalid template name part {part!r}")
        if override is not None:
            subject = self.compile(override.subject).render(context)
            body = self.compile(override.body).render(context)
        else:
            prefix = f"{language}/{event_type}"
            subject = self._template(prefix, channel, "subject").render(context)
            body = self._template(prefix, channel, "body").render(context)
        # A subject is one line whatever the template's layout.
        return RenderedMessage(subject=" ".join(subject.split()), body=body.strip() + "\n")

    def compile(self, source: str) -> Template:
        """A template from its source, compiled once; raises ``jinja2.TemplateSyntaxError``."""
        template = self._compiled.get(source)
        if template is None:
            template = self.environment.from_string(source)
            if len(self._compiled) >= _COMPILED_SOURCES_LIMIT:
                self._compiled.clear()
            self._compiled[source] = template
        return template

    def shipped_sources(self, event_type: str, language: str, channel: str) -> MessageSources | None:
        """The sources of the shipped files ``render`` would use, or None when there are none."""
        for part in (event_type, language, channel):
            if not _NAME_PART.match(part):
                raise ValueError(f"invalid template name part {part!r}")
        prefix = f"{language}/{event_type}"
        try:
            subject = self._template(prefix, channel, "subject")
            body = self._template(prefix, channel, "body")
        except TemplateNotFound:
            return None
        if subject.name is None or body.name is None:
            return None
        return MessageSources(subject=self.source(subject.name), body=self.source(body.name))

    def source(self, name: str) -> str:
        """A shipped file's source; raises ``jinja2.TemplateNotFound``."""
        if self.environment.loader is None:
            raise TemplateNotFound(name)
        source, _, _ = self.environment.loader.get_source(self.environment, name)
        return source

    def languages(self) -> frozenset[str]:
        """The languages with shipped templates."""
        return frozenset(name.split("/", 1)[0] for name in self.environment.list_templates() if "/" in name)

    def _template(self, prefix: str, channel: str, part: str) -> Template:
        # Raises TemplatesNotFound, a TemplateNotFound, when neither exists.
        key = (prefix, channel, part)
        template = self._shipped.get(key)
        if template is None:
            names = [f"{prefix}.{channel}.{part}.j2", f"{prefix}.{part}.j2"]
            template = self._shipped[key] = self.environment.select_template(names)
        return template
