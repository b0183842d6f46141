"""Prometheus metrics of one relay instance, in their own registry (served at ``/metrics``).

Requests by route and status, request latency, bytes in and out, blocks stored and garbage
collected, log appends, connected WebSockets and notifications sent.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("cove_relay_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "cove_relay_request_seconds", "Request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.bytes_in = Counter("cove_relay_block_bytes_in", "Block bytes uploaded (new and duplicate)", registry=r)
        self.bytes_out = Counter("cove_relay_block_bytes_out", "Block bytes downloaded", registry=r)
        self.blocks_stored = Gauge("cove_relay_blocks_stored", "Blocks currently stored", registry=r)
        self.block_bytes_stored = Gauge("cove_relay_block_bytes_stored", "Bytes of blocks stored", registry=r)
        self.blocks_collected = Counter("cove_relay_blocks_collected", "Blocks garbage-collected", registry=r)
        self.appends = Counter("cove_relay_log_appends", "Log entries appended", registry=r)
        self.connected = Gauge("cove_relay_connected_devices", "Devices connected by WebSocket", registry=r)
        self.notifications = Counter("cove_relay_notifications", "Notifications queued to devices", registry=r)
        self.dropped = Counter("cove_relay_ws_dropped", "WebSockets closed for falling behind", registry=r)
        # Callbacks (method, route, status) after each request; tests use them to await completion.
        self.request_listeners: list[Callable[[str, str, int], None]] = []

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        for listener in list(self.request_listeners):
            listener(method, route, status)

    def render(self) -> bytes:
        return generate_latest(self.registry)
