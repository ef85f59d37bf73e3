"""The occupancy lifecycle table (the h11 way: every transition in one table)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import pytest

from minimix_core import LifecycleError, OccupancyState, _lifecycle
from minimix_core._lifecycle import TRANSITIONS, OccupancyEvent, advance

S = OccupancyState
E = OccupancyEvent


def test_the_member_holders_hold_every_member_and_nothing_else() -> None:
    """The hot paths read members from plain classes: they must not drift from the enums."""
    for holder, enum_class in ((_lifecycle.S, OccupancyState), (_lifecycle.E, OccupancyEvent)):
        held = {name: value for name, value in vars(holder).items() if not name.startswith("_")}
        assert held == dict(enum_class.__members__)


def test_states_hash_as_themselves() -> None:
    """Members are compared by identity, so they are hashed by it (in C, not Python)."""
    assert {S.JOINED: 1}[S.JOINED] == 1
    assert hash(S.JOINED) == object.__hash__(S.JOINED)
    assert hash(E.LEAVE) == object.__hash__(E.LEAVE)


def test_single_target_transitions_need_no_choice() -> None:
    """A pair with one outcome is taken as is."""
    assert advance(S.ABSENT, E.SESSION_JOIN) is S.JOINING
    assert advance(S.JOINING, E.SELF_PRESENCE) is S.JOINED
    assert advance(S.JOINED, E.LEAVE) is S.LEAVING


def test_choices_must_be_in_the_table() -> None:
    """Where several outcomes exist the handler names one; others raise."""
    assert advance(S.LEAVING, E.LEFT, S.JOINING) is S.JOINING
    with pytest.raises(LifecycleError, match="needs an explicit target"):
        advance(S.LEAVING, E.LEFT)
    with pytest.raises(LifecycleError, match="cannot lead from joining to leaving"):
        advance(S.JOINING, E.SELF_PRESENCE, S.LEAVING)


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("event", list(E))
def test_every_pair_is_either_in_the_table_or_raises(state: S, event: E) -> None:
    """All (state, event) pairs: allowed ones advance, the rest are bugs that raise."""
    allowed = TRANSITIONS.get((state, event))
    if allowed is None:
        with pytest.raises(LifecycleError, match="no transition"):
            advance(state, event)
    else:
        for target in allowed:
            assert advance(state, event, target) is target


def test_absent_is_only_left_by_a_join() -> None:
    """Nothing but a session's join or an autojoin creates an occupancy."""
    assert [e for (s, e) in TRANSITIONS if s is S.ABSENT] == [E.SESSION_JOIN, E.AUTOJOIN]


def _scenarios() -> list[Callable[[], None]]:
    """The example tests that drive the router through joins, leaves, removals and rejoins."""
    found = []
    for name in (
        "test_join",
        "test_leave",
        "test_removal",
        "test_keepalive",
        "test_bookmarks",
        "test_snapshot",
        "test_room_changes",
        "test_nick",
        "test_deadlines",
    ):
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                attr.startswith("test_")
                and callable(value)
                and not inspect.signature(value).parameters
            ):
                found.append(value)
    return found


def test_every_transition_of_the_table_is_taken_by_the_router(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The h2 way, through the public API: each (state, event, next state) of the table is
    reached by some scenario of the example tests, so no row of the table is dead."""
    seen: set[tuple[S, E, S]] = set()

    def recording(state: S, event: E, target: S | None = None) -> S:
        result = advance(state, event, target)
        seen.add((state, event, result))
        return result

    monkeypatch.setattr(_lifecycle, "advance", recording)
    for scenario in _scenarios():
        scenario()
    table = {
        (state, event, target)
        for (state, event), targets in TRANSITIONS.items()
        for target in targets
    }
    assert table - seen == set()
    assert seen <= table
