"""The loop every background worker of a service runs: the outbox relay, and notify's couriers.

A worker does its work in passes. Each pass says how long to wait before the next one; ``wake()``
cuts the wait short (typically once a transaction that made new work has committed). A pass that
raises is logged and tried again after a growing back-off, so that a database or a provider that
is away is not hammered. Stopping lets the current pass finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

logger = logging.getLogger(__name__)

Pass = Callable[[], Awaitable[float]]


def backoff_seconds(failures: int, *, ceiling: float = 5.0) -> float:
    """0.4 s after the first failure in a row, doubling up to ``ceiling``: long enough not to spin,
    short enough that recovery does not feel slow."""
    return min(0.2 * 2.0 ** min(failures, 16), ceiling)


class BackgroundWorker:
    def __init__(self, name: str, run_pass: Pass) -> None:
        self.name = name
        self._run_pass = run_pass
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called: a long pass checks it between items."""
        return self._stopping

    def wake(self) -> None:
        self._wake.set()

    def wake_after_commit(self, session: AsyncSession) -> None:
        """Wake the worker once ``session``'s transaction has committed, and not before."""
        event.listen(session.sync_session, "after_commit", self._wake_ignoring_session, once=True)

    def _wake_ignoring_session(self, _session: Any) -> None:
        self.wake()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, *, grace_seconds: float = 10.0) -> None:
        """Let the current pass finish, then end. Cancelling mid-pass is only the last resort: a
        cancellation that lands inside the database or NATS client can be swallowed there (seen on
        PostgreSQL), and the worker would then run on forever."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            async with asyncio.timeout(grace_seconds):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                wait = await self._run_pass()
                failures = 0
            except Exception:
                failures += 1
                logger.exception("%s: pass failed", self.name)
                wait = backoff_seconds(failures)
            if self._stopping:
                return
            if wait > 0:
                await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives
        # as the wake-up fires, and the worker would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
