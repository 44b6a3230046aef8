"""The outbox relay publishes a run of messages together, a purge alone between runs, and never two
messages on one subject in one run."""

from __future__ import annotations

from shared.bus.outbox import OutboxMessage, publishing_runs
from shared.events import PURGE_HEADER


def message(number: int, *, purge: bool = False, subject: str | None = None) -> OutboxMessage:
    headers = {PURGE_HEADER: "sla.timer.X.>"} if purge else {}
    return OutboxMessage(
        id=number,
        event_id=str(number),
        subject=subject or f"s.{number}",
        payload=b"{}",
        trace_headers={},
        headers=headers,
    )


def ids(runs: list[list[OutboxMessage]]) -> list[list[int]]:
    return [[item.id for item in run] for run in runs]


def test_a_purge_runs_alone_and_keeps_its_place_in_the_order() -> None:
    messages = [message(1), message(2), message(3, purge=True), message(4), message(5)]

    assert ids(publishing_runs(messages)) == [[1, 2], [3], [4, 5]]


def test_purges_in_a_row_and_at_the_edges_are_each_alone() -> None:
    messages = [message(1, purge=True), message(2, purge=True), message(3), message(4, purge=True)]

    assert ids(publishing_runs(messages)) == [[1], [2], [3], [4]]
    assert publishing_runs([]) == []


def test_a_second_message_on_a_subject_waits_for_the_run_with_the_first() -> None:
    messages = [
        message(1, subject="sla.timer.A.step.0.due.0"),
        message(2, subject="sla.timer.A.step.0.stalled.0"),
        message(3, subject="sla.timer.A.step.0.due.0"),
        message(4, subject="sla.timer.B.step.0.due.0"),
        message(5, subject="sla.timer.A.step.0.stalled.0"),
        message(6, subject="sla.timer.B.step.0.due.0"),
    ]

    assert ids(publishing_runs(messages)) == [[1, 2], [3, 4, 5], [6]]
