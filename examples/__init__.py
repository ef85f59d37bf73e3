"""Runnable examples of hosting minimix_core (a package so tests can import them by name)."""
