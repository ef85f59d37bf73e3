"""The occupancy lifecycle table (the h11 way: every transition in one table)."""

from __future__ import annotations

import pytest

from minimix_core import LifecycleError, OccupancyState
from minimix_core._lifecycle import TRANSITIONS, OccupancyEvent, advance

S = OccupancyState
E = OccupancyEvent


def test_single_target_transitions_need_no_choice() -> None:
    """A pair with one outcome is taken as is."""
    assert advance(S.ABSENT, E.SESSION_JOIN) is S.JOINING
    assert advance(S.JOINING, E.SELF_PRESENCE) is S.JOINED
    assert advance(S.JOINED, E.LAST_SESSION_GONE) is S.LEAVING


def test_choices_must_be_in_the_table() -> None:
    """Where several outcomes exist the handler names one; others raise."""
    assert advance(S.LEAVING, E.SELF_UNAVAILABLE, S.JOINING) is S.JOINING
    with pytest.raises(LifecycleError, match="needs an explicit target"):
        advance(S.LEAVING, E.SELF_UNAVAILABLE)
    with pytest.raises(LifecycleError, match="cannot lead from joined to joining"):
        advance(S.JOINED, E.SELF_PRESENCE, S.JOINING)


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
