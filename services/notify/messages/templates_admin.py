"""Admins' overrides of the shipped message templates, one per language, event type and channel.

An override is checked before it is stored: both sources must compile, and every variable, field,
filter and included file they use must exist for the event type, so that a saved override cannot fail
when an event arrives. An override is input, so it may name nothing private (``_``-prefixed names,
attributes and keys: the way out of Jinja2 into Python), and it is rendered once, sandboxed, against a
sample event: what the sandbox refuses is refused here too. Plain service functions over a session: no
HTTP here.
"""

from __future__ import annotations

import builtins
import enum
import types
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Union, get_args, get_origin
from uuid import UUID, uuid4

from jinja2 import TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from pydantic import BaseModel, ValidationError
from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel import delete as delete_rows
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.messages.rendering import MessageSources, TemplateRenderer
from services.notify.models import Channel, TemplateOverride
from shared.db import upsert
from shared.driver_statements import DriverStatement
from shared.errors import Invalid
from shared.events import EVENT_TYPES, CitizenNotice, DossierStepAssigned, Event, SlaAlert

# Webhooks carry the event as JSON, so only the channels written for people have templates.
TEMPLATE_CHANNELS = frozenset({Channel.INBOX.value, Channel.EMAIL.value, Channel.SMS.value})
# The events ``recipients.recipients_for`` addresses to people; nothing renders a message for others.
_ADDRESSED_EVENTS: tuple[type[Event], ...] = (CitizenNotice, SlaAlert, DossierStepAssigned)


class InvalidTemplate(Invalid):
    """The key or the sources cannot be used; the message says why and, for a source, where."""


class MessageTemplate(BaseModel):
    """The template in force for a key: an admin's override, or the shipped sources."""

    language: str
    event_type: str
    channel: str
    subject: str
    body: str
    overridden: bool
    updated_by: str | None = None
    updated_at: datetime | None = None


def addressed_event_types() -> dict[str, type[Event]]:
    """The event types notify writes messages to people for, with their event classes."""
    return {name: cls for name, cls in EVENT_TYPES.items() if issubclass(cls, _ADDRESSED_EVENTS)}


def check_key(*, renderer: TemplateRenderer, language: str, event_type: str, channel: str) -> type[Event]:
    """The event class of ``event_type``; raises ``InvalidTemplate`` for a key no message can have."""
    languages = renderer.languages()
    if language not in languages:
        raise InvalidTemplate(f"language must be one of {sorted(languages)}, not {language!r}")
    if channel not in TEMPLATE_CHANNELS:
        raise InvalidTemplate(f"channel must be one of {sorted(TEMPLATE_CHANNELS)}, not {channel!r}")
    event_class = addressed_event_types().get(event_type)
    if event_class is None:
        raise InvalidTemplate(
            f"no message is written for event type {event_type!r}; "
            f"use one of {sorted(addressed_event_types())}"
        )
    return event_class


def validate(
    *, renderer: TemplateRenderer, language: str, event_type: str, channel: str, subject: str, body: str
) -> None:
    """Raises ``InvalidTemplate`` unless both sources would render for every event of the type."""
    event_class = check_key(renderer=renderer, language=language, event_type=event_type, channel=channel)
    for part, source in (("subject", subject), ("body", body)):
        if not source.strip():
            raise InvalidTemplate(f"{part}: the template is empty")
        _check_source(renderer, event_class, part, source, seen=set())
    _check_sample_render(renderer, event_class, subject=subject, body=body)


async def get_override(
    *, session: AsyncSession, language: str, event_type: str, channel: str
) -> TemplateOverride | None:
    return await session.get(TemplateOverride, (language, event_type, channel))


# Read for every event notify words: on the driver.
_OVERRIDES_OF = DriverStatement(
    select(
        col(TemplateOverride.language),
        col(TemplateOverride.channel),
        col(TemplateOverride.subject),
        col(TemplateOverride.body),
    ).where(col(TemplateOverride.event_type) == bindparam("event_type"))
)


async def overrides_for(*, session: AsyncSession, event_type: str) -> dict[tuple[str, str], MessageSources]:
    """What the renderer needs of each override of ``event_type``, by (language, channel): one read
    for all of an event's messages. A key that is not here uses the shipped files."""
    rows = await _OVERRIDES_OF.rows(session, {"event_type": event_type})
    return {
        (language, channel): MessageSources(subject=subject, body=body)
        for language, channel, subject, body in rows
    }


async def get(
    *, session: AsyncSession, renderer: TemplateRenderer, language: str, event_type: str, channel: str
) -> MessageTemplate | None:
    """The override for the key, else the shipped sources; None when neither exists."""
    check_key(renderer=renderer, language=language, event_type=event_type, channel=channel)
    found = await get_override(session=session, language=language, event_type=event_type, channel=channel)
    if found is not None:
        return _as_template(found)
    shipped = renderer.shipped_sources(event_type, language, channel)
    if shipped is None:
        return None
    return MessageTemplate(
        language=language,
        event_type=event_type,
        channel=channel,
        subject=shipped.subject,
        body=shipped.body,
        overridden=False,
    )


async def list(*, session: AsyncSession) -> Sequence[MessageTemplate]:
    """Every override, by language, event type and channel."""
    statement = select(TemplateOverride).order_by(
        col(TemplateOverride.language), col(TemplateOverride.event_type), col(TemplateOverride.channel)
    )
    return [_as_template(row) for row in (await session.exec(statement)).all()]


async def put(
    *,
    session: AsyncSession,
    renderer: TemplateRenderer,
    language: str,
    event_type: str,
    channel: str,
    subject: str,
    body: str,
    updated_by: str,
    now: datetime,
) -> MessageTemplate:
    """Store the override for the key after ``validate``; raises ``InvalidTemplate`` and stores
    nothing when the sources would not render."""
    validate(
        renderer=renderer,
        language=language,
        event_type=event_type,
        channel=channel,
        subject=subject,
        body=body,
    )
    await upsert(
        session,
        TemplateOverride,
        key={"language": language, "event_type": event_type, "channel": channel},
        values={"subject": subject, "body": body, "updated_by": updated_by, "updated_at": now},
    )
    return MessageTemplate(
        language=language,
        event_type=event_type,
        channel=channel,
        subject=subject,
        body=body,
        overridden=True,
        updated_by=updated_by,
        updated_at=now,
    )


async def delete(
    *, session: AsyncSession, renderer: TemplateRenderer, language: str, event_type: str, channel: str
) -> bool:
    """Remove the override, so that the shipped template is used again; False when there was none."""
    check_key(renderer=renderer, language=language, event_type=event_type, channel=channel)
    result = await session.execute(
        delete_rows(TemplateOverride).where(
            col(TemplateOverride.language) == language,
            col(TemplateOverride.event_type) == event_type,
            col(TemplateOverride.channel) == channel,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _as_template(row: TemplateOverride) -> MessageTemplate:
    return MessageTemplate(
        language=row.language,
        event_type=row.event_type,
        channel=row.channel,
        subject=row.subject,
        body=row.body,
        overridden=True,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def _check_source(
    renderer: TemplateRenderer, event_class: type[Event], where: str, source: str, *, seen: set[str]
) -> None:
    environment = renderer.environment
    try:
        # Compiling catches what parsing alone lets through (e.g. a block defined twice).
        renderer.compile(source)
        tree = environment.parse(source)
    except TemplateSyntaxError as exc:
        raise InvalidTemplate(f"{where}, line {exc.lineno}: {exc.message}") from exc
    _check_private_names(tree, where)
    fields = event_class.model_fields
    unknown = sorted(meta.find_undeclared_variables(tree) - fields.keys() - environment.globals.keys())
    if unknown:
        raise InvalidTemplate(
            f"{where}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a field of "
            f"{event_class.model_fields['type'].default}; it has {', '.join(sorted(fields))}"
        )
    for used in tree.find_all(nodes.Filter):
        if used.name not in environment.filters:
            raise InvalidTemplate(f"{where}, line {used.lineno}: there is no filter named {used.name!r}")
    for tested in tree.find_all(nodes.Test):
        if tested.name not in environment.tests:
            raise InvalidTemplate(f"{where}, line {tested.lineno}: there is no test named {tested.name!r}")
    _check_attributes(tree, event_class, where)
    for name in meta.find_referenced_templates(tree):
        if name is None:
            raise InvalidTemplate(f"{where}: included template names must be written out as strings")
        if name in seen:
            continue
        seen.add(name)
        try:
            included = renderer.source(name)
        except TemplateNotFound as exc:
            raise InvalidTemplate(f"{where}: there is no shipped template {name!r} to include") from exc
        _check_source(renderer, event_class, f"{where} (in {name})", included, seen=seen)


def _check_attributes(tree: nodes.Template, event_class: type[Event], where: str) -> None:
    """A field of a nested payload (``applicant.full_name``) must exist too: StrictUndefined makes a
    misspelt one fail at render time."""
    # A name the template assigns itself may hide the event's field of the same name.
    local = {name.name for name in tree.find_all(nodes.Name) if name.ctx in ("store", "param")}
    for access in tree.find_all(nodes.Getattr):
        target = access.node
        if not isinstance(target, nodes.Name) or target.name in local:
            continue
        field = event_class.model_fields.get(target.name)
        payload = None if field is None else _payload_model(field.annotation)
        if payload is not None and access.attr not in payload.model_fields:
            raise InvalidTemplate(
                f"{where}, line {access.lineno}: {target.name} has no field {access.attr!r}; "
                f"it has {', '.join(sorted(payload.model_fields))}"
            )


def _payload_model(annotation: Any) -> type[BaseModel] | None:
    """The payload model a field holds, itself or optional (``DocumentRef | None``)."""
    candidates = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _check_private_names(tree: nodes.Template, where: str) -> None:
    """Every known escape from a template into Python goes through a ``_`` name (``__globals__``,
    ``__class__``, ``_TemplateReference__context``); no message needs one."""
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: object = None
        if isinstance(node, nodes.Name):
            name = node.name
        elif isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, nodes.Const) else None
        if isinstance(name, str) and name.startswith("_"):
            raise InvalidTemplate(
                f"{where}, line {node.lineno}: names starting with '_' are not allowed ({name!r})"
            )


def _check_sample_render(
    renderer: TemplateRenderer, event_class: type[Event], *, subject: str, body: str
) -> None:
    """Render both sources once against a made-up event of the type, so that what the sandbox
    refuses (an attribute reached through a variable, say) is refused before it is stored."""
    context = sample_context(event_class)
    for part, source in (("subject", subject), ("body", body)):
        try:
            renderer.compile(source).render(context)
        except SecurityError as exc:
            raise InvalidTemplate(
                f"{part}: the template tries something templates may not do ({exc})"
            ) from exc
        except Exception:
            # Made-up values can trip a filter that real ones would not; the static checks above
            # already cover names and fields, and a real event that fails falls back to the shipped
            # template (see ``notifications``).
            continue


def sample_context(event_class: type[Event]) -> dict[str, Any]:
    """A template context for a made-up event of ``event_class``, every optional field filled in."""
    sample = _sample_model(event_class)
    try:
        return event_class.model_validate(sample).model_dump()
    except ValidationError:
        return sample


def _sample_model(model: type[BaseModel]) -> dict[str, Any]:
    return {name: _sample_value(field.annotation) for name, field in model.model_fields.items()}


def _sample_value(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        present = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _sample_value(present[0]) if present else None
    if origin is Literal:
        return get_args(annotation)[0]
    # ``builtins``: this module's own ``list`` is the service function.
    if origin in (builtins.list, tuple, set, frozenset, Sequence):
        args = get_args(annotation)
        return [_sample_value(args[0])] if args else []
    if origin in (builtins.dict, Mapping):
        return {}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return _sample_model(annotation)
        if issubclass(annotation, enum.Enum):
            return next(iter(annotation)).value
        if issubclass(annotation, bool):
            return False
        if issubclass(annotation, int):
            # 1 is a dossier status too, for the filters that name one.
            return 1
        if issubclass(annotation, float):
            return 1.0
        if issubclass(annotation, datetime):
            return datetime(2024, 1, 2, 3, 4, tzinfo=UTC)
        if issubclass(annotation, UUID):
            return str(uuid4())
    return "mẫu"
