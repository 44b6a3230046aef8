"""The benchmarks' HTTP client: aiohttp's, which costs the client machine less CPU per request than
httpx's, so that the figures measure the services rather than the bench itself. Each service gets one
pool of kept-alive connections."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Reply:
    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.text[:200]}")


class Client:
    """Requests to one service at ``base_url``, at most ``connections`` at a time; ``requests``
    counts those made."""

    def __init__(self, base_url: str, *, connections: int, timeout: float = 60) -> None:
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )
        self.requests = 0

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> Reply:
        self.requests += 1
        async with self._session.get(path, headers=headers) as response:
            return Reply(response.status, await response.text())

    async def post(self, path: str, *, json: Any = None, headers: dict[str, str] | None = None) -> Reply:
        self.requests += 1
        async with self._session.post(path, json=json, headers=headers) as response:
            return Reply(response.status, await response.text())

    async def aclose(self) -> None:
        await self._session.close()


# What a request that never got its answer raises: the connection failed, or the time ran out.
TransportError = (aiohttp.ClientError, TimeoutError)
