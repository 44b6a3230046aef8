"""Request bodies capped before routing: a body past its cap is answered 413 before any route,
dependency or token check reads it, so a client without a token cannot make a service hold gigabytes.

A small cap (the JSON routes') is enforced by reading the body up to the cap before the app runs,
whether or not the client declared a Content-Length; a large one (uploads, which the route streams
to disk) is enforced on Content-Length up front and by counting the bytes as the route reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Bodies up to this are read whole before routing; above it they are only counted as they stream.
BUFFERED_LIMIT = 1024 * 1024

BodyCap = Callable[[Scope], int]
"""The most bytes a request's body may carry, chosen from its scope (path, method, headers)."""


class _TooLarge(Exception):
    """Raised into the app when a streamed body passes its cap; never a ValueError, which the
    services map to 422."""


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            text: str = value.decode("latin-1")
            return text.split(";")[0].strip().lower()
    return ""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def is_multipart(scope: Scope) -> bool:
    return _media_type(scope) == "multipart/form-data"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, cap: BodyCap) -> None:
        self.app = app
        self.cap = cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.cap(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        if limit <= BUFFERED_LIMIT:
            await self._buffered(scope, receive, send, limit)
        else:
            await self._counted(scope, receive, send, limit)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left before its body was in; nothing is routed for it.
                return
            chunk: bytes = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await _refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                # Later reads are for http.disconnect (streaming responses wait on it).
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        seen = 0
        started = False

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, watching)
        except _TooLarge:
            if not started:
                await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"the request body is larger than the {limit} bytes allowed"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read; the connection cannot carry another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
