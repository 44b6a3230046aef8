"""Alembic's entry point for intake's history; every service's migrations run the same way."""

from shared.migrations import run_environment

run_environment()
