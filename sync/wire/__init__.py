"""Wire formats shared by the sync engine and the relay server.

This package is a leaf: it imports only the standard library and PyNaCl, never other ``sync``
modules, so the relay (which must never import the engine) can depend on it. It defines

- :mod:`sync.wire.ids` — device IDs from Ed25519 public keys and the formats of folder, block and
  user names;
- :mod:`sync.wire.canonical` — the canonical byte encoding that everything signed is signed over;
- :mod:`sync.wire.envelopes` — signed log entries, membership changes and device-auth proofs.
"""
