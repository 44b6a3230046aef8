"""Benchmark of the officer's worklist page (``GET /``, 50 dossiers a page) deep into a large
worklist: N open dossiers (10,000 by default) seeded as ``bench/scale.py`` seeds them (a quarter at
each of the birth registration's first four steps, all in one agency), then the first, middle and
last page timed through the HTTP app (in process, without the network) for:

- an officer of the desk (their unit's quarter, read from the unit's worklist index);
- the agency's leader (every dossier, from the agency's index);
- an admin (every dossier, no scope).

Each figure is the median (and the slowest) of ``--repeat`` requests of that page, in milliseconds,
the page's HTML rendered included. Processing runs on a fresh SQLite file or a PostgreSQL schema of
its own, dropped at the end.

    python bench/worklist_paging.py --database sqlite
    python bench/worklist_paging.py --database postgres -n 10000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import uvloop
from scale import _postgres_url, _seed, _settings

from services.processing.app import create_app
from services.processing.pages.workspace import PAGE_SIZE
from shared.auth import issue_token
from shared.bus.in_process import InProcessBus
from shared.db import drop_schemas
from shared.settings import AuthSettings

VIEWERS = {
    "officer": ("h56-hc-motcua-officer", 4),  # one unit of the four
    "leader": ("000-00-06-h56-leader", 1),
    "admin": ("demo-admin", 1),
}


async def _page_times(client: httpx.AsyncClient, username: str, page: int, repeat: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {issue_token(username, secret=AuthSettings().secret)}"}
    times: list[float] = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = await client.get("/", params={"page": page}, headers=headers)
        times.append(time.perf_counter() - began)
        if response.status_code != 200 or response.text.count('class="code"') == 0:
            raise RuntimeError(f"page {page} for {username}: {response.status_code}")
    return {
        "page": page,
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
    }


async def main(args: argparse.Namespace) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="motcua-paging-"))
    schema = f"motcua_paging_{uuid4().hex[:10]}"
    os.environ["MOTCUA_DATA_DIR"] = str(data_dir)  # the tokens use this system's secret
    app = create_app(_settings(args.database, data_dir, schema))
    InProcessBus().attach(app.state.runtime)
    figures: dict[str, Any] = {"database": args.database, "open_dossiers": args.n, "page_size": PAGE_SIZE}
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            began = time.perf_counter()
            await _seed(app, args.n)
            figures["seed_s"] = round(time.perf_counter() - began, 1)
            transport = httpx.ASGITransport(app=app)
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://processing")
            )
            for viewer, (username, share) in VIEWERS.items():
                last = -(-(args.n // share) // PAGE_SIZE)
                figures[viewer] = {
                    "dossiers": args.n // share,
                    **{
                        name: await _page_times(client, username, page, args.repeat)
                        for name, page in (("first", 1), ("middle", max(last // 2, 1)), ("last", last))
                    },
                }
    finally:
        if args.database == "postgres":
            await drop_schemas(_postgres_url(), [schema])
        shutil.rmtree(data_dir, ignore_errors=True)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=10_000, help="open dossiers to seed")
    parser.add_argument("--repeat", type=int, default=20, help="requests of each page")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    print(json.dumps(uvloop.run(main(parser.parse_args()))))
