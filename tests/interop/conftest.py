"""Fixtures of the interop tier; nothing here is collected unless ``MINIMIX_INTEROP=1``.

The default unit run (``python3 tasks.py test``) walks ``tests/`` and reaches this folder;
:func:`pytest_ignore_collect` keeps it out, so that run needs neither Prosody nor slixmpp.
``python3 interop.py`` sets the variable. This module imports only the standard library
and pytest for the same reason.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab import Lab, LabError, start, stop

HERE = Path(__file__).resolve().parent
ENABLED = os.environ.get("MINIMIX_INTEROP") == "1"

if ENABLED:
    # The host under test is the example, imported as ``examples.component``.
    ROOT = str(HERE.parent.parent)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave this folder out of every run that did not ask for it."""
    if not ENABLED and HERE in collection_path.resolve().parents:
        return True
    return None


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Debian's Prosody on 127.0.0.1 with fresh data, for the whole run; stopped by pid."""
    problem = None
    try:
        server = start(tmp_path_factory.mktemp("prosody"))
    except LabError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"the interop tier needs a running Prosody: {problem}", pytrace=False)
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture
def room(lab: Lab, request: pytest.FixtureRequest) -> str:
    """A room JID nobody used before: persistent rooms and tombstones outlive runs."""
    name = request.node.name.removeprefix("test_").replace("_", "-")[:40]
    return f"{name}-{secrets.token_hex(3)}@{lab.muc}"
