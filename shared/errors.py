"""The four kinds of refusal every service speaks, each answered over HTTP in one way.

A rule raises the kind that says what went wrong; it never builds an HTTP response. The runtime
registers ``install_error_handlers`` on every app, so a route lets these propagate and the client
gets the status below with the message as ``detail``:

- ``NotFound`` → 404: what was asked for does not exist (or is not the caller's to know of);
- ``Forbidden`` → 403: the caller is known but may not do this;
- ``Conflict`` → 409: allowed in general, not in the state things are in now (retrying later, or
  after reloading, may succeed);
- ``Invalid`` → 422: the request itself is wrong, whatever the state.

A rule that needs a more specific name subclasses one of these (``InvalidTransition(Conflict)``),
so that the mapping stays here. ``Invalid`` is a ``ValueError``, so validators that raise it inside
pydantic models still become field errors.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class Refusal(Exception):
    """A request the rules refuse; ``status_code`` is how HTTP says which kind."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(Refusal, LookupError):
    status_code = 404


class Forbidden(Refusal):
    status_code = 403


class Conflict(Refusal):
    status_code = 409


class Invalid(Refusal, ValueError):
    """``loc``, when given, names the field at fault, as in FastAPI's own validation errors
    (``["body", "documents", 0, "name"]``); the answer then has that shape, so clients read one."""

    status_code = 422

    def __init__(self, message: str, *, loc: tuple[str | int, ...] | None = None) -> None:
        super().__init__(message)
        self.loc = loc


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refusal)
    if isinstance(exc, Invalid) and exc.loc is not None:
        detail = [{"loc": list(exc.loc), "msg": exc.message, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=exc.status_code)
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every ``Refusal`` a route lets through with its status and message."""
    app.add_exception_handler(Refusal, _refused)
