"""The consumers' fetch loop: an idle fetch asks again whichever ``TimeoutError`` nats-py raises (its
own, or asyncio's plain one from the deadline check since nats-py 2.16), and a failed fetch is
tried again after a pause (0.4 s after the first failure), without ending the loop."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import nats.errors
import pytest
from nats.aio.msg import Msg

from shared.bus.consumer import _fetched


class Subscription:
    """Answers each fetch with the next of ``answers``: a list of messages, or an exception."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.fetches = 0

    async def fetch(self) -> list[Msg]:
        self.fetches += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return cast(list[Msg], answer)


async def test_idle_and_failed_fetches_ask_again_and_only_messages_are_handed_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscription = Subscription(
        TimeoutError(),  # what nats-py 2.16 raises from its deadline check
        nats.errors.TimeoutError(),
        ["first"],
        ConnectionError("NATS is away"),
        ["second", "third"],
    )
    fetched = _fetched(subscription.fetch, "intake-test")
    assert [await anext(fetched), await anext(fetched)] == [["first"], ["second", "third"]]
    assert subscription.fetches == 5
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert "fetch failed" in caplog.records[0].getMessage()


async def test_a_cancelled_fetch_ends_the_loop() -> None:
    subscription = Subscription(asyncio.CancelledError())
    fetched = _fetched(subscription.fetch, "intake-test")
    with pytest.raises(asyncio.CancelledError):
        await anext(fetched)
