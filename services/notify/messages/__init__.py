"""Turning events into messages: who hears, in which words, and the stored notification."""
