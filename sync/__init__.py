"""Cove's sync engine: asyncio, no Qt. Usable headless (`cove daemon`) and embedded in the app."""

__version__ = "0.1.0"
