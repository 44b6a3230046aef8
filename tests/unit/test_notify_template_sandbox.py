"""A template is input (admins write overrides), so no template can run code: the known ways out of
Jinja2 into Python are refused when an override is saved, and render inert in the sandbox when a
template arrives some other way (a row written straight into the database)."""

from __future__ import annotations

import os

import pytest
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from services.intake.receipt import _environment as receipt_environment
from services.notify.messages.notifications import message_context
from services.notify.messages.rendering import MessageSources, TemplateRenderer
from services.notify.messages.templates_admin import (
    InvalidTemplate,
    addressed_event_types,
    sample_context,
    validate,
)
from tests.unit.test_notify_templates import accepted

RENDERER = TemplateRenderer()
SECRET = os.environ["MOTCUA_JWT_SECRET"]

# Server-side template injection payloads, from the issue and the usual lists.
SSTI_PAYLOADS = [
    '{{ lipsum.__globals__["os"].popen("id").read() }}',
    '{{ cycler.__init__.__globals__.os.getenv("MOTCUA_JWT_SECRET") }}',
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self._TemplateReference__context }}",
    "{{ request|attr('__class__') }}",
    "{{ lipsum|attr('__globals__') }}",
    "{{ lipsum|attr('\\x5f\\x5fglobals\\x5f\\x5f') }}",
    "{{ dossier_code|attr('\\u005f\\u005fclass\\u005f\\u005f') }}",
    "{{ range.__globals__ }}",
    "{{ config.items() }}",
    "{{ joiner.__init__.__globals__['__builtins__']['__import__']('os').popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.environ }}",
    "{{ dossier_code.__class__.__base__.__subclasses__() }}",
    "{{ applicant['__class__'] }}",
    "{% set x = lipsum.__globals__ %}{{ x }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]

# Reach a private attribute through a value the parser cannot see: only the sandbox stops it.
DYNAMIC_PAYLOADS = [
    "{% set name = '_' ~ '_globals__' %}{{ lipsum | attr(name) }}",
    "{% set name = '_' ~ '_class__' %}{{ dossier_code[name] }}",
]


def check(body: str) -> None:
    validate(
        renderer=RENDERER,
        language="vi",
        event_type="dossier.accepted",
        channel="inbox",
        subject="Hồ sơ {{ dossier_code }}",
        body=body,
    )


@pytest.mark.parametrize("payload", SSTI_PAYLOADS + DYNAMIC_PAYLOADS)
def test_a_template_injection_payload_is_refused_as_an_override(payload: str) -> None:
    with pytest.raises(InvalidTemplate):
        check(payload)


@pytest.mark.parametrize("payload", ["{{ lipsum.__globals__ }}", "{{ applicant['_secret'] }}", "{{ _x }}"])
def test_the_refusal_names_the_private_name_and_where_it_is(payload: str) -> None:
    with pytest.raises(InvalidTemplate) as raised:
        check(payload)

    assert str(raised.value).startswith("body, line 1: names starting with '_' are not allowed")


@pytest.mark.parametrize("payload", DYNAMIC_PAYLOADS)
def test_what_only_the_sandbox_catches_is_refused_by_the_render_against_a_sample(payload: str) -> None:
    with pytest.raises(InvalidTemplate) as raised:
        check(payload)

    assert "may not do" in str(raised.value)


@pytest.mark.parametrize("payload", SSTI_PAYLOADS + DYNAMIC_PAYLOADS)
def test_a_payload_stored_without_the_checks_renders_inert(payload: str) -> None:
    override = MessageSources(subject="Hồ sơ {{ dossier_code }}", body=payload)
    try:
        message = RENDERER.render(
            "dossier.accepted", "vi", message_context(accepted()), channel="inbox", override=override
        )
    except (SecurityError, UndefinedError):
        return
    assert SECRET not in message.body
    assert "uid=" not in message.body
    assert "<class" not in message.body and "<module" not in message.body


def test_a_template_may_not_mutate_what_it_is_given() -> None:
    override = MessageSources(subject="{{ dossier_code }}", body="{{ applicant.update({'full_name': 'X'}) }}")

    with pytest.raises(SecurityError):
        RENDERER.render("dossier.accepted", "vi", message_context(accepted()), override=override)


def test_every_environment_is_the_immutable_sandbox() -> None:
    assert isinstance(RENDERER.environment, ImmutableSandboxedEnvironment)
    assert isinstance(receipt_environment(), ImmutableSandboxedEnvironment)


def test_the_sample_event_of_every_addressed_type_is_a_valid_event() -> None:
    for event_class in addressed_event_types().values():
        context = sample_context(event_class)
        assert event_class.model_validate(context).type == context["type"]
