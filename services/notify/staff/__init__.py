"""Notify's view of staff: the directory copy, SLA alerts in scope, digests and preferences."""
