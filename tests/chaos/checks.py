"""What the chaos test checks once the system has drained, read from the services' databases (SQL)
and the SMTP server, against what the load generator got a 2xx for.

Each finding names what was lost or duplicated and where; ``Findings.ok`` holds when there are none.
The expected notifications are worked out from processing's outbox (the events it published) and
its directory, by notify's rules: the applicant hears of each citizen notice in the inbox, by
email and by SMS; a step assignment goes to the assignee, or the unit's officers, unless they took
it themselves; an alert goes to each recipient's inbox and email.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.js.errors import NotFoundError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus.streams import DEAD_LETTER
from shared.events import CITIZEN_NOTICES, SLA_ALERTS, DossierStatus
from shared.settings import ServiceName
from tests.chaos.load import RESULT_NAME, LoadRecord

CITIZEN_NOTICE_TYPES = frozenset(notice.model_fields["type"].default for notice in CITIZEN_NOTICES)
ALERT_TYPES = frozenset(alert.model_fields["type"].default for alert in SLA_ALERTS)
STEP_ASSIGNED = "dossier.step.assigned"
# Findings listed one by one in a report; the counts cover them all.
LISTED = 15

NotificationKey = tuple[str, str, str]  # (event_id, recipient, channel)


@dataclass
class Findings:
    figures: dict[str, Any] = field(default_factory=dict)
    lost: dict[str, list[str]] = field(default_factory=dict)
    duplicated: dict[str, list[str]] = field(default_factory=dict)
    other: dict[str, list[str]] = field(default_factory=dict)

    def _add(self, bucket: dict[str, list[str]], what: str, items: Sequence[str]) -> None:
        if items:
            bucket.setdefault(what, []).extend(items)

    def add_lost(self, what: str, items: Sequence[str]) -> None:
        self._add(self.lost, what, items)

    def add_duplicated(self, what: str, items: Sequence[str]) -> None:
        self._add(self.duplicated, what, items)

    def add_other(self, what: str, items: Sequence[str]) -> None:
        self._add(self.other, what, items)

    @property
    def lost_count(self) -> int:
        return sum(len(items) for items in self.lost.values())

    @property
    def duplicated_count(self) -> int:
        return sum(len(items) for items in self.duplicated.values())

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated and not self.other

    def report(self) -> str:
        lines = [f"{key}: {value}" for key, value in self.figures.items()]
        lines.append(f"lost: {self.lost_count}, duplicated: {self.duplicated_count}")
        for title, bucket in (("LOST", self.lost), ("DUPLICATED", self.duplicated), ("WRONG", self.other)):
            for what, items in bucket.items():
                lines.append(f"{title} {what}: {len(items)}")
                lines.extend(f"    {item}" for item in items[:LISTED])
        return "\n".join(lines)


async def _rows(engine: AsyncEngine, statement: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(statement))).all())


async def dead_letters(nats_urls: Sequence[str]) -> int:
    connection = await nats.connect(list(nats_urls), connect_timeout=3, max_reconnect_attempts=3)
    try:
        info = await connection.jetstream().stream_info(DEAD_LETTER.name)
        return int(info.state.messages)
    except NotFoundError:
        return 0
    finally:
        await connection.close()


def expected_notifications(
    events: Sequence[tuple[str, str, dict[str, Any]]], people: Sequence[Any]
) -> set[NotificationKey]:
    officers: dict[str, list[str]] = {}
    emails: dict[str, str] = {}
    for person in people:
        if person.email:
            emails[person.username] = person.email
        if person.role == "officer" and person.active and person.unit_code:
            officers.setdefault(person.unit_code, []).append(person.username)
    expected: set[NotificationKey] = set()
    for event_id, event_type, payload in events:
        if event_type in CITIZEN_NOTICE_TYPES:
            applicant = payload["applicant"]
            expected.add((event_id, applicant["id_number"], "inbox"))
            if applicant.get("email"):
                expected.add((event_id, applicant["email"], "email"))
            if applicant.get("phone"):
                expected.add((event_id, applicant["phone"], "sms"))
        elif event_type == STEP_ASSIGNED:
            assignee = payload["assignee"]
            usernames = [assignee] if assignee else officers.get(payload["unit_code"], [])
            for username in usernames:
                if username != payload.get("assigned_by"):
                    expected.add((event_id, username, "inbox"))
        elif event_type in ALERT_TYPES:
            for recipient in payload["recipients"]:
                expected.add((event_id, recipient["username"], "inbox"))
                if recipient["username"] in emails:
                    expected.add((event_id, emails[recipient["username"]], "email"))
    return expected


async def progress(*, engine: AsyncEngine, schemas: dict[ServiceName, str]) -> tuple[int, ...]:
    """A few counts that move while anything is still at work: cheap enough to read every second
    while the system drains, unlike ``collect``. The first is the number of unsent outbox rows."""
    intake, processing, notify = schemas["intake"], schemas["processing"], schemas["notify"]
    pending = " + ".join(
        f'(SELECT count(*) FROM "{schema}".outbox WHERE sent_at IS NULL)' for schema in schemas.values()
    )
    handled = ", ".join(f'(SELECT count(*) FROM "{schema}".inbox)' for schema in schemas.values())
    row = (
        await _rows(
            engine,
            f"SELECT {pending}, {handled}, "
            f'(SELECT count(*) FROM "{processing}".dossier_history), '
            f'(SELECT count(*) FROM "{intake}".dossier WHERE status = 10), '
            f'(SELECT count(*) FROM "{intake}".dossier WHERE result_name IS NOT NULL), '
            f'(SELECT count(*) FROM "{notify}".notification), '
            f"(SELECT count(*) FROM \"{notify}\".notification WHERE status <> 'pending')",
        )
    )[0]
    return tuple(int(value) for value in row)


async def collect(
    *,
    engine: AsyncEngine,
    schemas: dict[ServiceName, str],
    record: LoadRecord,
    smtp_message_ids: Sequence[str],
    nats_urls: Sequence[str],
) -> Findings:
    """Everything the chaos test holds the system to, as of now."""
    findings = Findings()
    intake, processing, notify = schemas["intake"], schemas["processing"], schemas["notify"]
    accepted = set(record.submitted.values())
    by_key = Counter(record.submitted.values())
    findings.add_duplicated(
        "one dossier code answered for two idempotency keys", [c for c, n in by_key.items() if n > 1]
    )

    # Every accepted submission is registered in processing exactly once.
    registered = {row.code for row in await _rows(engine, f'SELECT code FROM "{processing}".dossier')}
    findings.add_lost(
        "submissions (2xx from intake) not registered in processing", sorted(accepted - registered)
    )
    findings.add_other("dossiers in processing nobody got a 2xx for", sorted(registered - accepted))
    intake_rows = await _rows(engine, f'SELECT code, status, result_name FROM "{intake}".dossier')
    findings.add_duplicated(
        "dossiers in intake beyond the 2xx submissions (a retry made a second dossier)",
        sorted({row.code for row in intake_rows} - accepted),
    )

    # Every officer action that got a 2xx is applied once, in order.
    history: dict[str, list[str]] = {}
    for row in await _rows(
        engine, f'SELECT dossier_code, action FROM "{processing}".dossier_history ORDER BY dossier_code, id'
    ):
        history.setdefault(row.dossier_code, []).append(row.action)
    lost_actions: list[str] = []
    duplicated_actions: list[str] = []
    misordered: list[str] = []
    for code in sorted(accepted):
        expected = ["submitted", *record.actions_of(code)]
        actual = history.get(code, [])
        missing = Counter(expected) - Counter(actual)
        extra = Counter(actual) - Counter(expected)
        lost_actions += [f"{code} {action}" for action in missing.elements()]
        duplicated_actions += [f"{code} {action}" for action in extra.elements()]
        if not missing and not extra and actual != expected:
            misordered.append(f"{code}: {actual} instead of {expected}")
    findings.add_lost("actions (2xx) without their history row in processing", lost_actions)
    findings.add_duplicated("history rows in processing beyond the 2xx actions", duplicated_actions)
    findings.add_other("history out of order", misordered)

    # Every dossier reaches status 10 in intake's copy, with its result.
    done = DossierStatus(10)
    in_intake = {row.code: row for row in intake_rows}
    findings.add_lost(
        "dossiers not returned (status 10 with the result) in intake's copy",
        [
            f"{code}: status {in_intake[code].status if code in in_intake else 'missing'}, "
            f"result {in_intake[code].result_name if code in in_intake else None!r}"
            for code in sorted(accepted)
            if code not in in_intake
            or in_intake[code].status != done
            or in_intake[code].result_name != RESULT_NAME
        ],
    )

    # Every (event, recipient, channel) notification is stored once and, where it sends, sent once.
    events = [
        (row.event_id, row.subject, json.loads(row.payload))
        for row in await _rows(
            engine,
            f'SELECT event_id, subject, payload FROM "{processing}".outbox '
            "WHERE subject LIKE 'dossier.%' OR subject LIKE 'alert.%' ORDER BY id",
        )
    ]
    people = await _rows(
        engine, f'SELECT username, role, unit_code, active, email FROM "{processing}".person'
    )
    expected_keys = expected_notifications(events, people)
    notifications = await _rows(
        engine,
        f'SELECT id, event_id, event_type, recipient, channel, status, attempts FROM "{notify}".notification',
    )
    stored = Counter((row.event_id, row.recipient, row.channel) for row in notifications)
    findings.add_lost(
        "notifications (event, recipient, channel) not stored in notify",
        [f"{key}" for key in sorted(expected_keys - set(stored))],
    )
    findings.add_duplicated(
        "notifications stored more than once", [f"{key} x{n}" for key, n in stored.items() if n > 1]
    )
    findings.add_other(
        "notifications nobody should have got", [f"{key}" for key in sorted(set(stored) - expected_keys)]
    )
    findings.add_lost(
        "inbox notifications not sent",
        [
            f"{row.id} {row.event_type} {row.status}"
            for row in notifications
            if row.channel == "inbox" and row.status != "sent"
        ],
    )
    emails = [row for row in notifications if row.channel == "email"]
    # The notification id is the last dot-separated part of the Message-ID's left side.
    sent_by: dict[str, list[str]] = {}
    for message_id in smtp_message_ids:
        notification_id = message_id.strip("<>").rpartition("@")[0].rpartition(".")[2]
        sent_by.setdefault(notification_id, []).append(message_id)
    received = Counter({notification_id: len(ids) for notification_id, ids in sent_by.items()})
    findings.add_lost(
        "email notifications not sent (status) or never received by the SMTP server",
        [
            f"{row.id} {row.event_type} status {row.status} attempts {row.attempts}"
            f" received {received[row.id]}"
            for row in emails
            if row.status != "sent" or received[row.id] == 0
        ],
    )
    # A replica killed between the SMTP server's answer and storing it cannot know the message went:
    # the replica that takes the lapsed lease over sends it again, with the same Message-ID, which
    # is how a receiver tells the retry from a new message. Two different ids are a duplicate.
    findings.add_duplicated(
        "emails received under two different Message-IDs (same notification id)",
        [f"{notification}: {' '.join(ids)}" for notification, ids in sent_by.items() if len(set(ids)) > 1],
    )
    findings.figures["emails resent after a crash, same Message-ID"] = sum(
        len(ids) - 1 for ids in sent_by.values() if len(set(ids)) == 1
    )
    findings.add_other(
        "emails received for no stored notification",
        sorted(set(received) - {row.id for row in emails}),
    )

    # The outbox of every service is empty; nothing was dead-lettered.
    pending: dict[str, int] = {}
    for service, schema in schemas.items():
        rows = await _rows(engine, f'SELECT count(*) AS n FROM "{schema}".outbox WHERE sent_at IS NULL')
        pending[service] = int(rows[0].n)
    findings.add_lost("outbox rows not sent", [f"{service}: {n}" for service, n in pending.items() if n])
    dead = await dead_letters(nats_urls)
    findings.add_lost("messages dead-lettered", [f"{dead} in the DLQ stream"] if dead else [])

    outbox_total = {
        service: int((await _rows(engine, f'SELECT count(*) AS n FROM "{schema}".outbox'))[0].n)
        for service, schema in schemas.items()
    }
    findings.figures.update(
        {
            "dossiers submitted (2xx)": len(accepted),
            "dossiers walked to the result": record.completed,
            "officer actions applied (2xx)": sum(1 for item in record.actions if item.known_by == "2xx"),
            "officer actions settled by reading after a retry's 409 or 403": record.settled_by_reading,
            "requests retried after a transport error": record.transport_retries,
            "dossier and alert events published by processing": len(events),
            "outbox rows (events) per service": outbox_total,
            "notifications stored": len(notifications),
            "notifications by channel": dict(Counter(row.channel for row in notifications)),
            "emails received by the SMTP server": sum(received.values()),
            "dead letters": dead,
        }
    )
    return findings
