"""Cross-origin calls from the staff pages: the manager's board, served by processing, reads and
acknowledges alerts and listens to the inbox's live feed with ``fetch`` and a bearer token.

Only the origins in ``app.state.cors_origins`` (``CorsSettings``) get an answer a browser accepts;
credentials (cookies) are never allowed, so a page elsewhere learns nothing even with a user's
cookies. The origins are read from the app's state on each request, so that they can be set after
the app is built (a test's servers listen on ports chosen at start)."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class StaffPagesCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._built: tuple[tuple[str, ...], ASGIApp] | None = None

    def _cors(self, origins: tuple[str, ...]) -> ASGIApp:
        if self._built is None or self._built[0] != origins:
            middleware = CORSMiddleware(
                self.app,
                allow_origins=list(origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization"],
                allow_credentials=False,
                max_age=600,
            )
            self._built = (origins, middleware)
        return self._built[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origins = tuple(getattr(scope["app"].state, "cors_origins", ()))
        await self._cors(origins)(scope, receive, send)
