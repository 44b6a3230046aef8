"""Notify's HTTP API: the inbox, alerts, preferences, delivery reports and template admin."""
