"""The demo's mailbox: notify lists the last hour's SMS and emails, one-time codes among them, only
with MOTCUA_DEMO=true; the portal's code page says where it is in the demo."""

from __future__ import annotations

import re

from tests.conftest import eventually
from tests.service.test_portal import submitted, token_of
from tests.system import APPLICANT, System


async def send_a_code(system: System, code: str) -> str:
    page = await system.intake.get("/lookup", params={"code": code})
    found = await system.intake.post(
        "/lookup", data={"csrf_token": token_of(page), "code": code, "id_number": APPLICANT["id_number"]}
    )
    sent = await system.intake.post(
        "/lookup/one-time-code",
        data={
            "csrf_token": token_of(found),
            "code": code,
            "id_number": APPLICANT["id_number"],
            "channel": "sms",
        },
    )
    assert sent.status_code == 200, sent.text
    return sent.text


async def test_the_demo_mailbox_shows_the_code_sent_by_sms_and_the_portal_points_to_it(
    system: System,
) -> None:
    code = await submitted(system)
    page = await send_a_code(system, code)
    assert 'href="http://127.0.0.1:8003/demo/messages"' in page

    async def code_listed() -> None:
        # The code reaches notify as an event: it is listed once notify has handled it.
        mailbox = await system.notify.get("/demo/messages")
        assert mailbox.status_code == 200 and mailbox.headers["content-type"].startswith("text/plain")
        assert mailbox.headers["cache-control"] == "no-store"
        assert "SMS to" in mailbox.text and re.search(r"\b\d{6}\b", mailbox.text)

    await eventually(code_listed)


async def test_outside_the_demo_there_is_no_mailbox_and_the_portal_says_nothing_of_it(
    system: System,
) -> None:
    code = await submitted(system)
    for service in ("intake", "notify"):
        system.runtime(service).settings.common.demo = False
    page = await send_a_code(system, code)
    assert "/demo/messages" not in page
    assert (await system.notify.get("/demo/messages")).status_code == 404
