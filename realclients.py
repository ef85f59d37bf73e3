"""Run the real-client tier: ``python3 realclients.py`` (extra arguments go to pytest).

The tier (``tests/realclients``) starts Debian's Prosody 0.12 on 127.0.0.1 twice: once
unmodified, where each client joins rooms itself, and once with the module of
``hosts/prosody`` and its Python side, where the account joins. Real clients are the
devices (slixmpp with its MUC plugin; poezio in tmux for one smoke test), and every
scenario checks that the two runs differ exactly as the Prosody page documents
(docs/prosody.rst, "Differences from a direct join").

It needs the virtual environment of ``python3 tasks.py test`` and
``apt-get install -y prosody lua-unbound poezio tmux``. The default test run never
collects this tier: ``tests/realclients/conftest.py`` ignores it unless
``MINIMIX_REALCLIENTS=1``, which this script sets.
"""

from __future__ import annotations

import sys

from interop import run_tier

TIMEOUT = 1200
"""Seconds the whole tier may take (about 2 minutes on two idle cores; every wait inside it
is bounded, the throughput run most generously)."""


if __name__ == "__main__":
    sys.exit(run_tier("tests/realclients", "MINIMIX_REALCLIENTS", TIMEOUT, sys.argv[1:]))
