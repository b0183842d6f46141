"""Cove relay server (``cove-relay``): stores ciphertext blocks, per-device signed logs, accounts,
folder membership and invitations, and notifies devices of appends over WebSockets.

The relay never holds a folder key. It imports nothing from ``sync`` except the leaf wire-format
package :mod:`sync.wire`. Module map:

- :mod:`relay.app` — app factory, route table, typed app keys, resource lifetimes;
- ``relay.handlers_*`` — thin HTTP adapters per area (auth, folders, log, blocks, notify, ops);
- :mod:`relay.rules` — pure decisions (appends, membership changes, invitations) taking ``now``;
- :mod:`relay.auth` — passwords, tokens, challenges; :mod:`relay.limits` — rate and size limits;
- :mod:`relay.storage` — storage protocols; :mod:`relay.sqlite` and :mod:`relay.blockstore_fs` —
  the embedded implementations;
- :mod:`relay.notify` — the WebSocket fan-out hub; :mod:`relay.gc` — block garbage collection;
- :mod:`relay.metrics`, :mod:`relay.jsonlog`, :mod:`relay.openapi` — operations;
- :mod:`relay.config`, :mod:`relay.server`, :mod:`relay.cli`, :mod:`relay.admin` — running it.
"""
