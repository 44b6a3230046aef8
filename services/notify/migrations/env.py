"""Alembic's entry point for notify's history; every service's migrations run the same way."""

from shared.migrations import run_environment

run_environment()
