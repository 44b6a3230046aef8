"""SQLite's one writer is taken in turn: the event flow's writers and the requests' alternate while
both wait, each kind in the order it came, and a turn that ends passes straight on."""

from __future__ import annotations

import asyncio

import pytest

from shared.db import WriterTurns


async def _take(turns: WriterTurns, name: str, *, flow: bool, order: list[str]) -> None:
    await turns.acquire(flow=flow)
    order.append(name)
    await asyncio.sleep(0)
    turns.release()


async def test_the_event_flow_and_requests_alternate_whoever_waited_longer() -> None:
    turns = WriterTurns()
    order: list[str] = []
    await turns.acquire(flow=False)  # a request holds the writer
    waiting = [
        asyncio.create_task(_take(turns, "request 1", flow=False, order=order)),
        asyncio.create_task(_take(turns, "request 2", flow=False, order=order)),
        asyncio.create_task(_take(turns, "flow 1", flow=True, order=order)),
        asyncio.create_task(_take(turns, "flow 2", flow=True, order=order)),
    ]
    await asyncio.sleep(0)
    turns.release()
    await asyncio.gather(*waiting)
    assert order == ["flow 1", "request 1", "flow 2", "request 2"]


async def test_nobody_arriving_takes_a_turn_that_is_being_passed_on() -> None:
    turns = WriterTurns()
    await turns.acquire(flow=False)
    waiter = asyncio.create_task(turns.acquire(flow=False))
    await asyncio.sleep(0)
    turns.release()  # passed to the waiter, which has not run yet
    latecomer = asyncio.create_task(turns.acquire(flow=True))
    await asyncio.sleep(0)
    assert waiter.done() and not latecomer.done()
    turns.release()
    await latecomer
    turns.release()


async def test_a_cancelled_waiter_leaves_the_line_and_a_cancelled_turn_passes_on() -> None:
    turns = WriterTurns()
    await turns.acquire(flow=False)
    gone = asyncio.create_task(turns.acquire(flow=True))
    handed = asyncio.create_task(turns.acquire(flow=False))
    after = asyncio.create_task(turns.acquire(flow=False))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    turns.release()  # to ``handed``, cancelled before it could run: the turn goes on to ``after``
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await asyncio.wait_for(after, 1)
    turns.release()
    await asyncio.wait_for(turns.acquire(flow=False), 1)  # free again
