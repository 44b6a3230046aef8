"""A service adds its own sweeps to the retention pass; one that fails does not stop the others."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.intake.migrations import history
from services.intake.models import metadata
from shared.bus import retention
from shared.events import utc_now
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from tests.conftest import RuntimeSettingsFactory


async def test_a_failing_sweep_is_logged_and_the_pass_runs_the_next_one(
    runtime_settings: RuntimeSettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = ServiceRuntime("intake", metadata, runtime_settings("intake"), migrations=history)
    await upgrade(runtime.db, history)
    ran: list[str] = []

    async def broken() -> None:
        ran.append("broken")
        raise OSError("the volume is away")

    async def working() -> None:
        ran.append("working")

    runtime.on_retention(broken, name="broken files")
    runtime.on_retention(working, name="working files")
    try:
        with caplog.at_level(logging.ERROR, logger="shared.bus.retention"):
            wait = await runtime.pruner.prune()
        assert ran == ["broken", "working"]
        assert wait == runtime.settings.retention.interval_seconds
        assert [record.getMessage() for record in caplog.records] == [
            "retention: the broken files sweep failed"
        ]
    finally:
        await runtime.db.dispose()


async def test_a_pass_deletes_in_batches_until_nothing_past_retention_is_left(
    runtime_settings: RuntimeSettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "DELETE_BATCH", 2)
    runtime = ServiceRuntime("intake", metadata, runtime_settings("intake"), migrations=history)
    await upgrade(runtime.db, history)
    outbox, inbox = runtime.outbox.table, runtime.inbox.table
    now = utc_now()
    long_ago, lately = now - timedelta(days=40), now - timedelta(days=1)
    try:
        async with runtime.db.session() as session:
            await session.execute(
                outbox.insert(),
                [
                    {
                        "event_id": event_id,
                        "subject": "dossier.submitted",
                        "payload": "{}",
                        "trace_headers": "{}",
                        "headers": "{}",
                        "created_at": created_at,
                        "sent_at": sent_at,
                        "attempts": 1,
                    }
                    for event_id, created_at, sent_at in [
                        *((f"old-sent-{n}", long_ago, long_ago) for n in range(5)),
                        ("old-unsent", long_ago, None),
                        ("new-sent", lately, lately),
                    ]
                ],
            )
            await session.execute(
                inbox.insert(),
                [
                    *(
                        {"consumer": f"c{n % 2}", "event_id": f"old-{n}", "processed_at": long_ago}
                        for n in range(5)
                    ),
                    {"consumer": "c0", "event_id": "new", "processed_at": lately},
                ],
            )

        transactions = 0
        session_of = runtime.db.session

        def counted() -> Any:
            nonlocal transactions
            transactions += 1
            return session_of()

        monkeypatch.setattr(runtime.db, "session", counted)
        await runtime.pruner.prune()
        monkeypatch.undo()
        # Five rows past retention in each table, two a batch: 2 + 2 + 1, each its own transaction.
        assert transactions == 6

        async with runtime.db.reading() as session:
            kept_outbox = set((await session.execute(select(outbox.c.event_id))).scalars())
            kept_inbox = set((await session.execute(select(inbox.c.event_id))).scalars())
        assert kept_outbox == {"old-unsent", "new-sent"}  # what was never sent is never lost
        assert kept_inbox == {"new"}
    finally:
        await runtime.db.dispose()
