"""Retention of uploaded files: a stored file is kept while a ``StoredFile`` row refers to it.

A file lands in the store before its transaction commits the row (see ``store_documents``); when
that transaction fails, the file is left without a row. A crash mid-write leaves an ``.incoming-``
temporary. Both are deleted here, in the service's hourly retention pass, once they are older than
the grace period, which is far longer than any upload and its transaction take.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import col, select

from services.intake.files import FileStore
from services.intake.models import StoredFile
from shared.db import Database

logger = logging.getLogger(__name__)

# Stays well below the bound-parameter limits of SQLite and asyncpg.
_LOOKUP_BATCH = 500


@dataclass(frozen=True)
class SweptFiles:
    unreferenced: int
    incoming: int


async def sweep_files(*, db: Database, store: FileStore, grace_seconds: float) -> SweptFiles:
    """Delete stored files that no ``StoredFile`` row refers to, and abandoned temporaries, both only
    once older than ``grace_seconds``. Logs the counts, never a file's name or content."""
    cutoff = time.time() - grace_seconds
    candidates = await asyncio.to_thread(_older_contents, store, cutoff)
    referenced: set[str] = set()
    async with db.reading() as session:
        names = sorted(candidates)
        for start in range(0, len(names), _LOOKUP_BATCH):
            batch = names[start : start + _LOOKUP_BATCH]
            rows = await session.exec(select(StoredFile.sha256).where(col(StoredFile.sha256).in_(batch)))
            referenced.update(rows.all())
    unreferenced = [path for sha256, path in candidates.items() if sha256 not in referenced]
    swept = SweptFiles(
        unreferenced=await asyncio.to_thread(_remove_older, unreferenced, cutoff),
        incoming=await asyncio.to_thread(lambda: _remove_older(store.incoming(), cutoff)),
    )
    if swept.unreferenced or swept.incoming:
        logger.info(
            "retention: %d unreferenced stored file(s) and %d abandoned upload(s) deleted",
            swept.unreferenced,
            swept.incoming,
        )
    return swept


def _older_contents(store: FileStore, cutoff: float) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for sha256, path in store.contents():
        try:
            if path.stat().st_mtime < cutoff:
                found[sha256] = path
        except FileNotFoundError:
            continue  # another replica's pass took it meanwhile
    return found


def _remove_older(paths: Iterable[Path], cutoff: float) -> int:
    return sum(FileStore.remove_if_older(path, cutoff) for path in paths)
