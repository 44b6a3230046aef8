"""The operators' port: metrics and the API docs kept off the port the public reaches.

One app listens on both sockets; a request's own ``server`` port in its ASGI scope tells which one it
came in on. The public port answers 404 for the internal paths, the internal port 404 for the API:
health answers on both, for the load balancer and for the monitoring alike.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

INTERNAL_PATHS = frozenset({"/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
BOTH_PATHS = frozenset({"/healthz", "/readyz"})


class InternalPortMiddleware:
    def __init__(self, app: ASGIApp, *, internal_port: int) -> None:
        self.app = app
        self.internal_port = internal_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        internal = server is not None and server[1] == self.internal_port
        path: str = scope.get("path", "")
        if path in BOTH_PATHS or (path in INTERNAL_PATHS) == internal:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": "Not Found"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
