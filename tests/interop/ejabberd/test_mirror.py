"""Every scenario of the mirrored Prosody modules also runs here, imported or rewritten."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

MIRRORED = (
    "join_and_chat",
    "join_errors",
    "membership",
    "more_scenarios",
    "removal",
    "router_features",
)
RENAMED = {
    "test_join_without_muc_x_is_not_a_join": (
        "test_join_without_muc_x_is_a_groupchat_1_join_of_the_session"
    ),
}
"""Prosody scenarios whose ejabberd version has another name: ejabberd behaves otherwise."""


def _scenarios(module: ModuleType) -> set[str]:
    return {name for name in vars(module) if name.startswith("test_")}


@pytest.mark.parametrize("name", MIRRORED)
def test_every_prosody_scenario_has_an_ejabberd_version(name: str) -> None:
    """A scenario added to ``tests/interop/test_<name>.py`` needs a line here too."""
    prosody = importlib.import_module(f"tests.interop.test_{name}")
    ejabberd = importlib.import_module(f"tests.interop.ejabberd.test_{name}")
    wanted = {RENAMED.get(scenario, scenario) for scenario in _scenarios(prosody)}
    missing = sorted(wanted - _scenarios(ejabberd))
    assert not missing, f"tests/interop/ejabberd/test_{name}.py lacks {missing}"
