"""An admin overrides a message template over notify's HTTP API: the next citizen hears the new
wording, other channels keep theirs, and deleting the override brings the shipped template back.
Only admins may change templates, and a template that would fail at render time is never stored."""

from __future__ import annotations

from typing import Any

from tests.conftest import eventually
from tests.system import APPLICANT, System, accept_a_dossier, citizen_headers

RECEIPT_INBOX = "/api/v1/admin/templates/vi/dossier.accepted/inbox"
OVERRIDE = {
    "subject": "Đã nhận hồ sơ {{ dossier_code }} của {{ applicant.full_name }}",
    "body": "Kính gửi {{ applicant.full_name }}: hẹn trả kết quả lúc {{ due_at | vn_datetime }}.",
}


async def admin_known(system: System) -> dict[str, str]:
    """The admin's headers, once notify's directory copy knows the admin."""
    headers = system.auth("demo-admin")

    async def check() -> None:
        response = await system.notify.get("/api/v1/admin/templates", headers=headers)
        assert response.status_code == 200, response.text

    await eventually(check)
    return headers


async def receipt(system: System, code: str, recipient: str) -> dict[str, Any]:
    """The receipt of dossier ``code`` sent to ``recipient`` (the applicant's CCCD for the inbox, or
    their email address), as the applicant reads it with their citizen session."""

    async def check() -> dict[str, Any]:
        rows = await system.notifications(citizen_headers(APPLICANT["id_number"]))
        found = [
            row
            for row in rows
            if row["dossier_code"] == code
            and row["event_type"] == "dossier.accepted"
            and row["recipient"] == recipient
        ]
        assert len(found) == 1, rows
        row: dict[str, Any] = found[0]
        return row

    return await eventually(check)


async def test_an_override_is_used_for_the_next_receipt_and_deleting_it_restores_the_shipped_one(
    system: System,
) -> None:
    admin = await admin_known(system)

    saved = await system.notify.put(RECEIPT_INBOX, json=OVERRIDE, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["overridden"] is True and saved.json()["updated_by"] == "demo-admin"
    listed = (await system.notify.get("/api/v1/admin/templates", headers=admin)).json()
    assert [(row["language"], row["event_type"], row["channel"]) for row in listed] == [
        ("vi", "dossier.accepted", "inbox")
    ]
    assert listed[0]["body"] == OVERRIDE["body"]

    first = await accept_a_dossier(system)
    inbox = await receipt(system, first, APPLICANT["id_number"])
    assert inbox["subject"] == f"Đã nhận hồ sơ {first} của Nguyễn Văn An"
    assert inbox["body"].startswith("Kính gửi Nguyễn Văn An: ")
    assert " hẹn trả kết quả lúc " in inbox["body"] and " ngày " in inbox["body"]
    assert "{{" not in inbox["body"]
    # The email has no override of its own: it keeps the shipped email template.
    email = await receipt(system, first, APPLICANT["email"])
    assert email["channel"] == "email"
    assert email["subject"].startswith(f"Hồ sơ {first} đã được tiếp nhận, hẹn trả kết quả lúc ")
    assert email["body"].startswith("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")
    assert "vui lòng không trả lời thư này" in email["body"]

    deleted = await system.notify.delete(RECEIPT_INBOX, headers=admin)
    assert deleted.status_code == 204, deleted.text
    assert (await system.notify.delete(RECEIPT_INBOX, headers=admin)).status_code == 404
    shipped = (await system.notify.get(RECEIPT_INBOX, headers=admin)).json()
    assert shipped["overridden"] is False and shipped["updated_by"] is None
    assert shipped["body"].startswith("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")
    assert (await system.notify.get("/api/v1/admin/templates", headers=admin)).json() == []

    second = await accept_a_dossier(system)
    restored = await receipt(system, second, APPLICANT["id_number"])
    assert restored["subject"].startswith(f"Hồ sơ {second} đã được tiếp nhận, hẹn trả kết quả lúc ")
    assert restored["body"].startswith("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")
    # The first dossier's receipt keeps the words it was sent with.
    assert (await receipt(system, first, APPLICANT["id_number"]))["body"] == inbox["body"]


async def test_an_admin_starts_from_the_shipped_sources(system: System) -> None:
    admin = await admin_known(system)

    response = await system.notify.get("/api/v1/admin/templates/en/dossier.accepted/email", headers=admin)

    assert response.status_code == 200, response.text
    found = response.json()
    assert found["overridden"] is False
    assert found["subject"].startswith("Dossier {{ dossier_code }} accepted")
    assert '{% include "en/email.footer.j2" %}' in found["body"]


async def test_only_an_admin_may_change_templates(system: System) -> None:
    admin = await admin_known(system)

    for username in ("demo-officer", "demo-manager"):
        headers = system.auth(username)
        refused = await system.notify.put(RECEIPT_INBOX, json=OVERRIDE, headers=headers)
        assert refused.status_code == 403, refused.text
        assert "is not an admin" in refused.json()["detail"]
        assert (await system.notify.get(RECEIPT_INBOX, headers=headers)).status_code == 403
        assert (await system.notify.delete(RECEIPT_INBOX, headers=headers)).status_code == 403
    assert (await system.notify.put(RECEIPT_INBOX, json=OVERRIDE)).status_code == 401

    assert (await system.notify.get("/api/v1/admin/templates", headers=admin)).json() == []
    assert (await system.notify.get(RECEIPT_INBOX, headers=admin)).json()["overridden"] is False


async def test_a_template_that_would_fail_is_refused_with_the_reason_and_not_stored(system: System) -> None:
    admin = await admin_known(system)
    cases = [
        (RECEIPT_INBOX, {**OVERRIDE, "body": "Dòng một\n{% if late_acceptance %}trễ"}, "body, line 2:"),
        (RECEIPT_INBOX, {**OVERRIDE, "subject": "Hồ sơ {{ ma_ho_so }}"}, "ma_ho_so is not a field"),
        (RECEIPT_INBOX, {**OVERRIDE, "body": "{{ applicant.name }}"}, "applicant has no field 'name'"),
        (
            "/api/v1/admin/templates/vi/dossier.acepted/inbox",
            OVERRIDE,
            "no message is written for event type 'dossier.acepted'",
        ),
        ("/api/v1/admin/templates/fr/dossier.accepted/inbox", OVERRIDE, "language must be one of"),
        ("/api/v1/admin/templates/vi/dossier.accepted/webhook", OVERRIDE, "channel must be one of"),
    ]
    for path, body, reason in cases:
        response = await system.notify.put(path, json=body, headers=admin)
        assert response.status_code == 422, (path, response.text)
        assert reason in response.json()["detail"], (path, response.text)

    assert (await system.notify.get("/api/v1/admin/templates", headers=admin)).json() == []
    unknown = await system.notify.get("/api/v1/admin/templates/vi/dossier.acepted/inbox", headers=admin)
    assert unknown.status_code == 422
    # A refused template changes nothing for the citizen.
    code = await accept_a_dossier(system)
    inbox = await receipt(system, code, APPLICANT["id_number"])
    assert inbox["body"].startswith("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")


async def test_an_override_that_fails_on_a_value_falls_back_to_the_shipped_wording(system: System) -> None:
    admin = await admin_known(system)
    # Every name exists, so it is stored; but a dossier code is no date, so it fails at render time.
    wrong_type = {"subject": "{{ dossier_code | vn_datetime }}", "body": "{{ dossier_code }}"}
    saved = await system.notify.put(RECEIPT_INBOX, json=wrong_type, headers=admin)
    assert saved.status_code == 200, saved.text

    code = await accept_a_dossier(system)

    inbox = await receipt(system, code, APPLICANT["id_number"])
    assert inbox["subject"].startswith(f"Hồ sơ {code} đã được tiếp nhận")
    assert inbox["body"].startswith("GIẤY TIẾP NHẬN HỒ SƠ")
