"""Suite-wide settings: LAN discovery only ever uses loopback in tests (no multicast leaves the
machine), and Qt renders offscreen."""

import os

os.environ.setdefault("COVE_LAN_INTERFACES", "127.0.0.1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
