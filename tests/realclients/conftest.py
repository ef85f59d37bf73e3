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


FIGURES: dict[str, dict[str, float]] = {}
"""Throughput figures by mode, filled by test_throughput.py and reported at the end."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--figures PATH``: write the throughput figures there (Markdown) after the run."""
    parser.addoption("--figures", default=None, help="write the throughput figures here")


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
def fresh_stack(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A new server of ``stack``'s mode for one scenario: figures not skewed by the others."""
    problem = None
    try:
        server = start_stack(stack.mode, tmp_path_factory.mktemp(f"fresh-{stack.mode}"))
    except LabError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"a fresh {stack.mode} server cannot start: {problem}", pytrace=False)
    try:
        yield server
    finally:
        stop_stack(server)


@pytest.fixture
def figures() -> dict[str, dict[str, float]]:
    """Where the throughput scenario records its figures, by mode."""
    return FIGURES


def figures_page(figures: dict[str, dict[str, float]]) -> str:
    """The throughput figures as a Markdown section, with the module/direct ratios."""
    rows = [
        "---",
        "orphan: true",  # a section for the performance page; Sphinx builds it standalone
        "---",
        "",
        "# Real-client figures",
        "",
        "Written by `python3 realclients.py --figures docs/realclients-figures.md`.",
        "",
        "## Real clients: 2,000 groupchat messages to an account with two devices",
        "",
        "bob sends 2,000 groupchat messages to a room where alice has two devices (slixmpp",
        "clients on c2s, Debian's Prosody 0.12 on 127.0.0.1). CPU is Prosody's, plus the",
        "Python side's through the module (user + system time from /proc/PID/stat); wall time",
        "runs from bob's first send to the last message reaching both devices. Every device",
        "got every message once, in order, in both runs (asserted by",
        "tests/realclients/test_throughput.py). One run on one machine: read the ratios,",
        "not the absolute numbers. The Python side is the whole component process",
        "(hosts/prosody/minimix_prosody.py): its XEP-0114 stream, slixmpp's reading and",
        "writing of each stanza, its event loop and the router; the router's own share is",
        "the fan-out figures above, a few microseconds per message.",
        "",
        "| | direct joins | through the module | module / direct |",
        "| --- | ---: | ---: | ---: |",
    ]
    direct, module = figures.get("direct", {}), figures.get("module", {})
    for key, label in (
        ("cpu_s", "CPU (s)"),
        ("prosody_cpu_s", "of which Prosody (s)"),
        ("python_side_cpu_s", "of which the Python side (s)"),
        ("per_message_ms", "CPU per message (ms)"),
        ("wall_s", "wall time (s)"),
    ):
        a, b = direct.get(key), module.get(key)
        ratio = f"{b / a:.2f}" if a and b else "-"
        rows.append(
            f"| {label} | {a if a is None else f'{a:.2f}'} | "
            f"{b if b is None else f'{b:.2f}'} | {ratio} |"
        )
    return "\n".join(rows) + "\n"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Print the throughput figures; write them to ``--figures`` when both modes ran."""
    if not FIGURES:
        return
    page = figures_page(FIGURES)
    print("\n" + page)
    target = session.config.getoption("--figures")
    if target and len(FIGURES) == 2:
        Path(target).write_text(page)


@pytest.fixture
def room(stack: Stack, request: pytest.FixtureRequest) -> str:
    """A room JID nobody used before (persistent rooms and tombstones outlive scenarios)."""
    name = request.node.originalname.removeprefix("test_").replace("_", "-")[:36]
    return f"{name}-{secrets.token_hex(3)}@{stack.lab.muc}"
