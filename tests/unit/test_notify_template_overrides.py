"""An admin's template override is checked before it is stored: whatever passes renders for every
event of its type, and whatever would fail is refused with a message saying where and why."""

from __future__ import annotations

import pytest

from services.notify.messages.notifications import message_context
from services.notify.messages.rendering import MessageSources, TemplateRenderer
from services.notify.messages.templates_admin import (
    TEMPLATE_CHANNELS,
    InvalidTemplate,
    addressed_event_types,
    validate,
)
from tests.unit.test_notify_templates import CODE, accepted

RENDERER = TemplateRenderer()


def check(subject: str, body: str = "Hồ sơ {{ dossier_code }}", **key: str) -> None:
    where = {"language": "vi", "event_type": "dossier.accepted", "channel": "inbox", **key}
    validate(renderer=RENDERER, subject=subject, body=body, **where)


def refusal(subject: str, body: str = "Hồ sơ {{ dossier_code }}", **key: str) -> str:
    with pytest.raises(InvalidTemplate) as raised:
        check(subject, body, **key)
    return str(raised.value)


def test_every_shipped_template_would_be_accepted_as_an_override() -> None:
    checked = 0
    for event_type in addressed_event_types():
        for language in RENDERER.languages():
            for channel in TEMPLATE_CHANNELS:
                shipped = RENDERER.shipped_sources(event_type, language, channel)
                if shipped is None:
                    continue
                check(
                    shipped.subject, shipped.body, language=language, event_type=event_type, channel=channel
                )
                checked += 1
    assert checked >= 2 * 7 * 3


def test_a_valid_override_uses_fields_filters_nested_payloads_loops_and_shipped_includes() -> None:
    check(
        "{{ dossier_code }} hẹn {{ due_at | vn_datetime }}",
        "{% set who = applicant.full_name %}{{ who | upper }} ({{ applicant['id_number'] }})\n"
        "{% for n in range(2) %}{{ n }}{% endfor %}{% if late_acceptance is sameas true %}trễ{% endif %}\n"
        '{% include "vi/email.footer.j2" %}',
        channel="email",
    )


def test_a_syntax_error_names_the_part_and_the_line() -> None:
    message = refusal("Hồ sơ {{ dossier_code }}", "Dòng một\nDòng hai {{ dossier_code }\n")

    assert message.startswith("body, line 2:")
    assert "unexpected '}'" in message


def test_an_unclosed_block_is_a_syntax_error() -> None:
    assert refusal("{% if late_acceptance %}trễ").startswith("subject, line 1:")


def test_an_unknown_variable_is_named_with_the_fields_there_are() -> None:
    message = refusal("Hồ sơ {{ dossier_code }} của {{ citizen_name }}")

    assert message.startswith("subject: citizen_name is not a field of dossier.accepted")
    assert "applicant" in message and "due_at" in message


def test_a_field_of_another_event_type_is_unknown() -> None:
    # ``reason`` belongs to a refusal, not to a receipt.
    assert "reason is not a field of dossier.accepted" in refusal("{{ dossier_code }}", "Lý do: {{ reason }}")
    check("{{ dossier_code }}", "Lý do: {{ reason }}", event_type="dossier.refused")


def test_an_unknown_field_of_the_applicant_is_refused() -> None:
    message = refusal("{{ dossier_code }}", "Kính gửi {{ applicant.fullname }}")

    assert message.startswith("body, line 1: applicant has no field 'fullname'")
    assert "full_name" in message


def test_an_optional_payload_is_checked_too() -> None:
    message = refusal("{{ dossier_code }}", "{{ result.title }}", event_type="dossier.resolved")

    assert "result has no field 'title'" in message


def test_an_unknown_filter_or_test_is_refused_even_in_a_branch_rarely_taken() -> None:
    assert "no filter named 'vn_date'" in refusal(
        "{{ dossier_code }}", "{% if late_acceptance %}{{ due_at | vn_date }}{% endif %}"
    )
    assert "no test named 'late'" in refusal("{{ dossier_code }}", "{% if due_at is late %}x{% endif %}")


def test_includes_must_exist_and_use_only_known_fields() -> None:
    assert "no shipped template 'vi/footer.j2'" in refusal(
        "{{ dossier_code }}", '{% include "vi/footer.j2" %}'
    )
    assert "must be written out" in refusal("{{ dossier_code }}", "{% include dossier_code %}")
    # The shipped refusal body reads ``reason``, which a receipt does not have.
    message = refusal("{{ dossier_code }}", '{% include "vi/dossier.refused.body.j2" %}')
    assert message.startswith("body (in vi/dossier.refused.body.j2):")
    assert "reason" in message and "refused_at" in message


def test_empty_sources_are_refused() -> None:
    assert refusal("  ") == "subject: the template is empty"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ({"language": "fr"}, "language must be one of ['en', 'vi'], not 'fr'"),
        ({"channel": "webhook"}, "channel must be one of ['email', 'inbox', 'sms'], not 'webhook'"),
        (
            {"event_type": "dossier.accepted.oops"},
            "no message is written for event type 'dossier.accepted.oops'",
        ),
        ({"event_type": "dossier.step.completed"}, "no message is written for event type"),
    ],
)
def test_a_key_no_message_can_have_is_refused(key: dict[str, str], expected: str) -> None:
    assert expected in refusal("{{ dossier_code }}", **key)


def test_an_override_renders_in_place_of_the_files_and_compiles_once() -> None:
    override = MessageSources(
        subject="Đã nhận\n  hồ sơ {{ dossier_code }}", body="Hẹn trả: {{ due_at | vn_datetime }}  \n\n"
    )

    message = RENDERER.render(
        "dossier.accepted", "vi", message_context(accepted()), channel="inbox", override=override
    )

    assert message.subject == f"Đã nhận hồ sơ {CODE}"
    assert message.body == "Hẹn trả: 09:32 ngày 03/11/2023\n"
    assert RENDERER.compile(override.body) is RENDERER.compile(override.body)
    shipped = RENDERER.render("dossier.accepted", "vi", message_context(accepted()), channel="inbox")
    assert shipped.body.startswith("GIẤY TIẾP NHẬN HỒ SƠ")


def test_the_shipped_sources_fall_back_to_the_common_file_per_part() -> None:
    email = RENDERER.shipped_sources("dossier.accepted", "vi", "email")
    inbox = RENDERER.shipped_sources("dossier.accepted", "vi", "inbox")

    assert email is not None and inbox is not None
    assert email.subject == inbox.subject
    assert '{% include "vi/email.footer.j2" %}' in email.body
    assert "email.footer" not in inbox.body
    assert RENDERER.shipped_sources("dossier.step.completed", "vi", "inbox") is None
