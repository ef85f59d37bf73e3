"""Fixtures of the real-client tier; nothing here is collected unless ``MINIMIX_REALCLIENTS=1``.

The default run (``python3 tasks.py test``) walks ``tests/`` and reaches this folder;
:func:`pytest_ignore_collect` keeps it out, so that run needs neither Prosody nor clients.
``python3 realclients.py`` sets the variable. Standard library and pytest only here.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from interop.lab import LabError

from .stack import MODES, Stack, start_stack, stop_stack

HERE = Path(__file__).resolve().parent
ENABLED = os.environ.get("MINIMIX_REALCLIENTS") == "1"

if ENABLED:
    # tests.interop.harness imports the example component as ``examples.component``.
    ROOT = str(HERE.parent.parent)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave this folder out of every run that did not ask for it."""
    if not ENABLED and HERE in collection_path.resolve().parents:
        return True
    return None


@pytest.fixture(scope="session", params=MODES)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Prosody for one mode (and the module's Python side), for every scenario of that mode."""
    mode: str = request.param
    problem = None
    try:
        server = start_stack(mode, tmp_path_factory.mktemp(f"prosody-{mode}"))
    except LabError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"the real-client tier ({mode}) cannot start: {problem}", pytrace=False)
    try:
        yield server
    finally:
        stop_stack(server)


@pytest.fixture
def room(stack: Stack, request: pytest.FixtureRequest) -> str:
    """A room JID nobody used before (persistent rooms and tombstones outlive scenarios)."""
    name = request.node.originalname.removeprefix("test_").replace("_", "-")[:36]
    return f"{name}-{secrets.token_hex(3)}@{stack.lab.muc}"
