"""What the installed distribution declares: the licence (PEP 639) and the ``testing`` extra."""

from __future__ import annotations

from importlib.metadata import metadata


def test_licence_is_an_spdx_expression_with_its_file() -> None:
    """``license = "MIT"`` with ``license-files``: no setuptools deprecation, LICENSE shipped."""
    meta = metadata("minimix_core")
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]


def test_testing_extra_brings_hypothesis() -> None:
    """``pip install minimix_core[testing]`` is what the strategies' ImportError asks for."""
    meta = metadata("minimix_core")
    assert "testing" in meta.get_all("Provides-Extra", [])
    assert 'hypothesis>=6.100; extra == "testing"' in meta.get_all("Requires-Dist", [])
