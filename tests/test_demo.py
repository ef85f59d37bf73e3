"""The demo command: a narrated scenario against the simulated room."""

from __future__ import annotations

import io

import pytest

from minimix_core._cli import main
from minimix_core._demo import demo


def test_demo_tells_the_whole_story() -> None:
    """First join, late join, fork, reflection, leaves: each step and its actions."""
    out = io.StringIO()
    demo(out)
    text = out.getvalue()
    steps = [line for line in text.splitlines() if line.startswith("## ")]
    assert len(steps) == 9
    assert text.count("router sends to the room") == 3  # the join, one message, the last leave
    assert "router drops it (not-in-room)" in text
    assert "router lets the server route it as usual" in text
    assert "router offers it to alice@example.org's archive, once" in text
    assert "\\x1b[" not in text
    coloured = io.StringIO()
    demo(coloured, colour=True)
    assert "\x1b[1;33m## " in coloured.getvalue()


def test_demo_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m minimix_core demo` exits 0 and prints the story."""
    assert main(["demo"]) == 0
    assert "alice's laptop joins" in capsys.readouterr().out
