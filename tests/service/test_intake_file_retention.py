"""Intake's files are not orphaned: the retention pass every service runs hourly also deletes stored
content no row refers to and uploads a crash left half-written, once they are past the grace period,
and nothing a dossier refers to or an upload in flight may still need."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from services.intake.app import create_app
from services.intake.files import INCOMING_PREFIX, FileSettings, FileStore
from services.intake.models import StoredFile
from shared.events import utc_now
from shared.runtime import ServiceRuntime
from tests.conftest import RuntimeSettingsFactory
from tests.samples import PDF_DOCUMENT

GRACE = FileSettings().orphan_grace_seconds


def put(store: FileStore, content: bytes, *, age_seconds: float) -> Path:
    """Content in the store as an upload leaves it, last written ``age_seconds`` ago."""
    return written(store.path(hashlib.sha256(content).hexdigest()), content, age_seconds=age_seconds)


def written(path: Path, content: bytes = b"%PDF-1.4\n", *, age_seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    moment = time.time() - age_seconds
    os.utime(path, (moment, moment))
    return path


async def test_one_retention_pass_deletes_old_orphans_and_abandoned_uploads_and_keeps_the_rest(
    runtime_settings: RuntimeSettingsFactory,
) -> None:
    app = create_app(runtime_settings("intake"))
    async with app.router.lifespan_context(app):
        runtime: ServiceRuntime = app.state.runtime
        store = FileStore.in_data_dir(runtime.settings.common.data_dir, FileSettings())
        old = GRACE + 600
        referenced = put(store, PDF_DOCUMENT + b"% referenced\n", age_seconds=old)
        async with runtime.db.session() as session:
            session.add(
                StoredFile(
                    sha256=referenced.name,
                    size=referenced.stat().st_size,
                    media_type="application/pdf",
                    created_at=utc_now(),
                )
            )
        orphan = put(store, PDF_DOCUMENT + b"% rolled back\n", age_seconds=old)
        fresh_orphan = put(store, PDF_DOCUMENT + b"% in flight\n", age_seconds=60)
        abandoned = written(orphan.parent / f"{INCOMING_PREFIX}crashed", age_seconds=old)
        writing = written(referenced.parent / f"{INCOMING_PREFIX}writing", age_seconds=5)
        stranger = written(store.root / "notes.txt", age_seconds=old)  # not the store's: left alone

        await runtime.pruner.prune()

        assert not orphan.exists() and not abandoned.exists()
        assert referenced.read_bytes() == PDF_DOCUMENT + b"% referenced\n"
        assert fresh_orphan.exists() and writing.exists()
        assert stranger.exists()
