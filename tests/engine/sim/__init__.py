"""A deterministic, seeded simulator of several devices syncing one folder (see simulator.py)."""
