"""The load: citizens submit birth registrations (``1.001193``) and officers walk each one to the
returned result, spread round-robin over the replicas of each service.

A request that fails at the transport level (a replica is down, or died mid-request) goes to the
next replica. Nothing is counted twice: a submission is retried with its ``Idempotency-Key``, and
an officer action with the ``expected_revision`` it was first sent with, so that a retry of an
action that did apply gets 409 and is then settled by reading the dossier.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.auth import issue_token

PROCEDURE = "1.001193"
RESULT_NAME = "Giấy khai sinh"
ADMIN = "demo-admin"
# Birth registration: reception (the desk) → civil status → signature → seal → return at the desk.
WALK: tuple[tuple[str, str], ...] = (
    ("accept", "demo-officer"),
    ("forward", "demo-officer"),
    ("claim", "h56-hc-tuphap-officer"),
    ("forward", "h56-hc-tuphap-officer"),
    ("forward", "h56-hc-ld-officer"),
    ("approve", "h56-hc-vt-officer"),
    ("return-result", "demo-officer"),
)
# How long one request keeps trying replicas before the load gives up on it.
REQUEST_PATIENCE_SECONDS = 60.0
REGISTRATION_PATIENCE_SECONDS = 90.0


class GaveUp(Exception):
    """No replica answered a request in time, or an answer made no sense."""


@dataclass
class Replicas:
    """The base URLs of one service's replicas, handed out round-robin."""

    urls: Sequence[str]
    _next: itertools.count[int] = field(default_factory=itertools.count)

    def rotation(self) -> list[str]:
        start = next(self._next) % len(self.urls)
        return [*self.urls[start:], *self.urls[:start]]


@dataclass(frozen=True)
class AppliedAction:
    code: str
    action: str
    actor: str
    revision: int
    # "2xx", or "read" when the answer was lost and a retry's 409 (or 403) was settled by reading
    # the dossier.
    known_by: str


@dataclass
class LoadRecord:
    """What the load generator saw: every 2xx and how each retry was settled."""

    submitted: dict[str, str] = field(default_factory=dict)  # idempotency key → dossier code
    actions: list[AppliedAction] = field(default_factory=list)
    transport_retries: int = 0
    # 5xx answers by request kind, each retried on the next replica.
    server_errors: Counter[str] = field(default_factory=Counter)
    # Seconds each answered request took, by kind, and each dossier's wait for registration.
    latencies: dict[str, list[float]] = field(default_factory=dict)
    settled_by_reading: int = 0
    failures: list[str] = field(default_factory=list)
    completed: int = 0
    finished_at: float | None = None

    def latency_figures(self) -> dict[str, str]:
        """Median, 95th percentile and maximum seconds, by request kind."""
        figures: dict[str, str] = {}
        for kind, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            median = ordered[len(ordered) // 2]
            p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
            figures[kind] = f"{median:.2f}/{p95:.2f}/{ordered[-1]:.2f}"
        return figures

    def actions_of(self, code: str) -> list[str]:
        return [item.action for item in self.actions if item.code == code]


class Load:
    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        intake: Sequence[str],
        processing: Sequence[str],
        jwt_secret: str,
    ) -> None:
        self.client = client
        self.intake = Replicas(intake)
        self.processing = Replicas(processing)
        self.record = LoadRecord()
        users = {ADMIN, *(actor for _, actor in WALK)}
        self.tokens = {
            user: {"Authorization": f"Bearer {issue_token(user, secret=jwt_secret)}"} for user in users
        }

    async def _send(
        self, replicas: Replicas, kind: str, method: str, path: str, **kwargs: Any
    ) -> tuple[httpx.Response, bool]:
        """The first answer below 500 any replica gives; and whether an earlier try failed on the wire
        or with a 5xx (so that the request may have been applied already)."""
        deadline = time.monotonic() + REQUEST_PATIENCE_SECONDS
        retried = False
        last = "nothing"
        while time.monotonic() < deadline:
            for base in replicas.rotation():
                sent_at = time.monotonic()
                try:
                    response = await self.client.request(method, f"{base}{path}", **kwargs)
                except httpx.TransportError as exc:
                    last = repr(exc)
                    retried = True
                    self.record.transport_retries += 1
                    continue
                if response.status_code >= 500:
                    # Safe to send again: the idempotency key or the expected revision keeps a
                    # request that did apply from applying twice.
                    last = f"{response.status_code} {response.text[:200]}"
                    retried = True
                    self.record.server_errors[kind] += 1
                    continue
                self.record.latencies.setdefault(kind, []).append(time.monotonic() - sent_at)
                return response, retried
            await asyncio.sleep(0.3)
        raise GaveUp(f"{method} {path}: no replica answered within {REQUEST_PATIENCE_SECONDS}s ({last})")

    async def submit(self, number: int) -> str:
        key = f"chaos-{number}"
        body = {
            "procedure_code": PROCEDURE,
            "applicant": {
                "full_name": f"Nguyễn Văn {number}",
                # A CCCD of Đà Nẵng (048), born 1990, unique per dossier.
                "id_number": f"048090{number:06d}",
                "phone": f"0905{number:06d}",
                "email": f"citizen{number}@chaos.example.vn",
                "address": "12 Trần Phú, Hải Châu, Đà Nẵng",
            },
            "documents": [{"name": "Tờ khai đăng ký khai sinh", "kind": "digital"}],
            "channel": "online",
        }
        response, _ = await self._send(
            self.intake, "submit", "POST", "/api/v1/dossiers", json=body, headers={"Idempotency-Key": key}
        )
        if response.status_code not in (200, 201):
            raise GaveUp(f"submission {key}: {response.status_code} {response.text[:300]}")
        code = str(response.json()["code"])
        self.record.submitted[key] = code
        return code

    async def dossier(self, code: str) -> dict[str, Any] | None:
        response, _ = await self._send(
            self.processing, "read", "GET", f"/api/v1/dossiers/{code}", headers=self.tokens[ADMIN]
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise GaveUp(f"reading {code}: {response.status_code} {response.text[:300]}")
        found: dict[str, Any] = response.json()
        return found

    async def registered(self, code: str) -> int:
        """Wait until processing has the dossier; its revision."""
        started = time.monotonic()
        deadline = started + REGISTRATION_PATIENCE_SECONDS
        while time.monotonic() < deadline:
            found = await self.dossier(code)
            if found is not None:
                self.record.latencies.setdefault("registration", []).append(time.monotonic() - started)
                return int(found["revision"])
            await asyncio.sleep(0.5)
        raise GaveUp(f"{code} not registered in processing within {REGISTRATION_PATIENCE_SECONDS}s")

    async def act(self, code: str, action: str, actor: str, revision: int) -> int:
        """Apply one action at ``revision``; the dossier's revision after it."""
        body: dict[str, Any] = {"expected_revision": revision}
        if action == "approve":
            body["result"] = {"name": RESULT_NAME}
        response, retried = await self._send(
            self.processing,
            action,
            "POST",
            f"/api/v1/dossiers/{code}/{action}",
            json=body,
            headers=self.tokens[actor],
        )
        if response.status_code == 200:
            after = int(response.json()["revision"])
            self.record.actions.append(AppliedAction(code, action, actor, after, "2xx"))
            return after
        # A retry of an action that did apply meets a dossier one revision on (409), or one that has
        # moved on to another unit (403: processing checks the officer's scope before the revision).
        if response.status_code in (403, 409) and retried:
            # The lost answer's request may have applied: then the dossier is one revision on, and
            # its last history row is this action by this officer.
            found = await self.dossier(code)
            history = (found or {}).get("history") or []
            if (
                found is not None
                and int(found["revision"]) == revision + 1
                and history
                and history[-1]["action"] == action
                and history[-1]["actor"] == actor
            ):
                self.record.settled_by_reading += 1
                self.record.actions.append(AppliedAction(code, action, actor, revision + 1, "read"))
                return revision + 1
        raise GaveUp(
            f"{action} {code} at revision {revision} by {actor}: {response.status_code} "
            f"{response.text[:300]} (retried after a transport error: {retried})"
        )

    async def walk(self, number: int) -> None:
        """One dossier from submission to the returned result."""
        try:
            code = await self.submit(number)
            revision = await self.registered(code)
            for action, actor in WALK:
                revision = await self.act(code, action, actor, revision)
            self.record.completed += 1
        except GaveUp as exc:
            self.record.failures.append(str(exc))

    async def run(self, *, dossiers: int, per_second: float, concurrency: int) -> None:
        """Start ``dossiers`` walks at a steady ``per_second``, at most ``concurrency`` at once."""
        gate = asyncio.Semaphore(concurrency)

        async def paced(number: int) -> None:
            async with gate:
                await self.walk(number)

        tasks: list[asyncio.Task[None]] = []
        started = time.monotonic()
        for number in range(1, dossiers + 1):
            delay = started + (number - 1) / per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(paced(number)))
        await asyncio.gather(*tasks)
        self.record.finished_at = time.monotonic()
