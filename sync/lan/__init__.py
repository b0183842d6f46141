"""LAN peer sync: discovery (zeroconf), an authenticated encrypted peer channel, log and content
exchange with librsync deltas, LAN-only mode, bandwidth limits and pause. See ``docs/lan.md``."""
