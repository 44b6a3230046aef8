"""Request bodies are capped before routing: a body past its cap is answered 413 before any route or
token check reads it, and the service stops reading it there instead of holding it in memory.

Service tier: the real apps called over ASGI in process, with a client that streams its body in
chunks and counts how many the service pulled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI

from services.intake.app import create_app as create_intake
from services.processing.app import create_app as create_processing
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings

CHUNK = 64 * 1024
THREE_MB = 3 * 1024 * 1024


@dataclass
class Answer:
    status: int
    body: bytes
    chunks_read: int
    headers: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def detail(self) -> object:
        return json.loads(self.body)["detail"]


async def call(
    app: FastAPI,
    path: str,
    *,
    size: int,
    content_type: bytes = b"application/json",
    declare_length: bool = False,
    prefix: bytes = b"",
    suffix: bytes = b"",
) -> Answer:
    """POST ``size`` bytes in chunks (chunked transfer unless ``declare_length``), framed by
    ``prefix`` and ``suffix``; the body is made chunk by chunk, so the test holds at most one."""
    total = len(prefix) + size + len(suffix)
    headers = [(b"content-type", content_type), (b"host", b"test")]
    if declare_length:
        headers.append((b"content-length", str(total).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))

    def pieces() -> Iterator[bytes]:
        yield prefix
        left = size
        while left:
            step = min(CHUNK, left)
            yield b"0" * step
            left -= step
        yield suffix

    source = pieces()
    pending = next(source)
    read = 0

    async def receive() -> dict[str, object]:
        nonlocal pending, read
        if pending is None:
            return {"type": "http.disconnect"}
        chunk = pending
        pending = next(source, None)
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(
        message.get("body", b"")  # type: ignore[misc]
        for message in sent
        if message["type"] == "http.response.body"
    )
    status = start["status"]
    assert isinstance(status, int)
    return Answer(status, body, read, dict(start.get("headers", [])))  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(common=CommonSettings(data_dir=tmp_path / "data"))


async def dispose(app: FastAPI) -> None:
    runtime: ServiceRuntime = app.state.runtime
    await runtime.db.dispose()
    runtime.tracer_provider.shutdown()


async def test_a_streamed_3_mb_body_without_a_token_is_refused_before_the_token_check(
    settings: RuntimeSettings,
) -> None:
    app = create_processing(settings)
    try:
        answer = await call(app, "/api/v1/dossiers/X-1/accept", size=THREE_MB)
    finally:
        await dispose(app)
    assert answer.status == 413
    assert "65536 bytes" in str(answer.detail)
    # The service stopped reading at the cap: two chunks past 64 KiB, not the 48 a 3 MB body has.
    assert answer.chunks_read <= 3


async def test_a_declared_length_past_the_cap_is_refused_without_reading_the_body(
    settings: RuntimeSettings,
) -> None:
    app = create_processing(settings)
    try:
        answer = await call(app, "/api/v1/dossiers/X-1/accept", size=THREE_MB, declare_length=True)
    finally:
        await dispose(app)
    assert answer.status == 413
    assert answer.chunks_read == 0


async def test_a_body_under_the_cap_reaches_the_route(settings: RuntimeSettings) -> None:
    app = create_processing(settings)
    try:
        answer = await call(app, "/api/v1/dossiers/X-1/accept", size=0, prefix=b"{}")
    finally:
        await dispose(app)
    # The route ran: it asks for the token the request lacks.
    assert answer.status == 401


async def test_intake_json_past_the_cap_is_refused(settings: RuntimeSettings) -> None:
    app = create_intake(settings)
    try:
        answer = await call(app, "/api/v1/dossiers", size=100 * 1024, prefix=b'{"x": "', suffix=b'"}')
    finally:
        await dispose(app)
    assert answer.status == 413


async def test_intake_uploads_keep_the_upload_limits(settings: RuntimeSettings) -> None:
    boundary = b"b0undary"
    prefix = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
    )
    suffix = b"\r\n--" + boundary + b"--\r\n"
    app = create_intake(settings)
    try:
        answer = await call(
            app,
            "/api/v1/dossiers",
            size=200 * 1024,
            content_type=b"multipart/form-data; boundary=" + boundary,
            prefix=prefix,
            suffix=suffix,
        )
        too_large = await call(
            app,
            "/api/v1/dossiers",
            size=60 * 1024 * 1024,
            content_type=b"multipart/form-data; boundary=" + boundary,
            declare_length=True,
            prefix=prefix,
            suffix=suffix,
        )
    finally:
        await dispose(app)
    # Past the JSON cap, within the upload budget: the route reads it (and finds no dossier part).
    assert answer.status == 422
    assert too_large.status == 413
    assert too_large.chunks_read == 0
