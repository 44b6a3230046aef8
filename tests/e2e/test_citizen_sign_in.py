"""A citizen signs in the real way, across the bus: intake issues a one-time code, notify emails it
to the address the dossier holds, and the code from the email opens a citizen session that reads
the citizen's own notifications.

End-to-end over a real nats-server, each service connected as its own NATS user: the one test that
the code's event crosses from intake to notify under the permissions.
"""

from __future__ import annotations

import re

from tests.conftest import eventually
from tests.system import APPLICANT, Mailbox, System, accept_a_dossier, use_smtp


async def test_the_code_emailed_by_notify_opens_a_session_bound_to_the_cccd(
    system: System, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    use_smtp(system, port)
    code = await accept_a_dossier(system)

    asked = await system.intake.post(
        "/api/v1/citizen/one-time-codes",
        json={"dossier_code": code, "id_number": APPLICANT["id_number"], "channel": "email"},
    )
    assert asked.status_code == 202, asked.text
    challenge = asked.json()
    assert APPLICANT["email"] not in asked.text

    def code_arrived() -> str:
        bodies = [message.get_content() for message in mailbox.messages if code in message["Subject"]]
        found = [m for body in bodies if "Mã xác thực" in body for m in re.findall(r"\b(\d{6})\b", body)]
        assert found, [message["Subject"] for message in mailbox.messages]
        return found[0]

    one_time_code = await eventually(code_arrived, timeout=30)
    opened = await system.intake.post(
        "/api/v1/citizen/sessions", json={"challenge_id": challenge["challenge_id"], "code": one_time_code}
    )
    assert opened.status_code == 200, opened.text
    session = {"Authorization": f"Bearer {opened.json()['access_token']}"}

    own = await system.notifications(session)
    assert {row["dossier_code"] for row in own} == {code}
    assert all(one_time_code not in row["body"] for row in own)
    again = await system.intake.post(
        "/api/v1/citizen/sessions", json={"challenge_id": challenge["challenge_id"], "code": one_time_code}
    )
    assert again.status_code in {401, 410}, again.text
