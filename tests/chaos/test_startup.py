"""Replicas are started together, as a deployment does: on a fresh database, every one comes up."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chaos.harness import START_PATIENCE_SECONDS, deployment

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(180)
async def test_two_replicas_of_each_service_started_at_once_on_a_fresh_schema_all_come_up(
    tmp_path: Path, postgres: AsyncEngine, postgres_url: str, schema_prefix: str
) -> None:
    system = deployment(
        base_dir=tmp_path,
        database_url=postgres_url,
        schema_prefix=schema_prefix,
        jwt_secret=os.environ["MOTCUA_JWT_SECRET"],
        # No email goes out in this test.
        smtp_port=1,
    )
    try:
        system.nats.start()
        for replica in system.processes():
            replica.start()
        async with httpx.AsyncClient() as client:
            outcomes = await asyncio.gather(
                *(
                    replica.wait_ready(client, timeout=START_PATIENCE_SECONDS)
                    for replica in system.processes()
                ),
                return_exceptions=True,
            )
    finally:
        system.stop()
    failed = [f"{outcome}" for outcome in outcomes if outcome is not None]
    assert not failed, "\n\n".join(failed)
