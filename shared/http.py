"""FastAPI dependencies every service's routes share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.runtime import ServiceRuntime


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def reading_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only session for the request; writes open their own unit of work on the runtime."""
    async with runtime_of(request).db.reading() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(reading_session)]
RuntimeDep = Annotated[ServiceRuntime, Depends(runtime_of)]
