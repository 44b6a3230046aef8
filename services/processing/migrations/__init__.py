"""Processing's migration history: one Alembic revision per schema change, in ``versions/``
(``0001_initial.py``, ``0002_….py``, …), applied by ``shared.migrations``."""

from __future__ import annotations

from pathlib import Path

from services.processing.models import metadata
from shared.migrations import MigrationHistory

history = MigrationHistory(service="processing", location=Path(__file__).parent, metadata=metadata)
