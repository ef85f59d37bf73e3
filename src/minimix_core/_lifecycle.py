"""The occupancy lifecycle: every legal transition in one table.

An account's occupancy of a room moves ``ABSENT -> JOINING -> JOINED -> LEAVING -> ABSENT``.
Handlers never assign a state themselves: they call :func:`advance`, which looks the
``(state, event)`` pair up in :data:`TRANSITIONS` and raises :class:`LifecycleError` for
anything the table does not allow. That exception means a bug in the router, never bad
input. The documentation's state diagram is generated from this table.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["TRANSITIONS", "LifecycleError", "OccupancyEvent", "OccupancyState", "advance"]


class OccupancyState(enum.Enum):
    """Where the account stands with one room."""

    ABSENT = "absent"
    """Not in the room, and not trying to be (the occupancy does not exist)."""
    JOINING = "joining"
    """The account's join was sent; sessions wait in *pending* for the room's answer."""
    JOINED = "joined"
    """The room confirmed the account's self-presence; sessions are *attached*."""
    LEAVING = "leaving"
    """The account's unavailable was sent; the room's answer goes to the leaving sessions."""
    REJOINING = "rejoining"
    """The room dropped the account through no fault of its own (332, 333, a failed
    keep-alive); the account joins again while its sessions stay attached, unaware."""


class OccupancyEvent(enum.Enum):
    """What can move an occupancy from one state to another."""

    SESSION_JOIN = "session-join"
    """A session asks to join (or resync)."""
    AUTOJOIN = "autojoin"
    """An autojoin bookmark (or a restart) makes the account join with no session asking."""
    LAST_SESSION_GONE = "last-session-gone"
    """The last attached or pending session left or closed."""
    SELF_PRESENCE = "self-presence"
    """The room sent the account's own available presence."""
    SELF_UNAVAILABLE = "self-unavailable"
    """The room says the account is out: the answer to a leave, a kick, a ban, destruction."""
    ROOM_ERROR = "room-error"
    """The room answered a presence of the account with an error."""
    ROOM_FORGOT = "room-forgot"
    """The room no longer has the account: shutdown (332), technical removal (333), or a
    keep-alive ping answered "not joined"."""
    ROOM_GONE = "room-gone"
    """The room itself no longer exists (a keep-alive ping answered by the service)."""
    REJOIN_DUE = "rejoin-due"
    """The rejoin delay passed: the account sends its join again."""


S = OccupancyState
E = OccupancyEvent

TRANSITIONS: Final[dict[tuple[OccupancyState, OccupancyEvent], frozenset[OccupancyState]]] = {
    (S.ABSENT, E.SESSION_JOIN): frozenset({S.JOINING}),
    (S.ABSENT, E.AUTOJOIN): frozenset({S.JOINING}),
    (S.JOINING, E.SESSION_JOIN): frozenset({S.JOINING}),
    (S.JOINED, E.SESSION_JOIN): frozenset({S.JOINED}),
    (S.LEAVING, E.SESSION_JOIN): frozenset({S.LEAVING}),  # queued until the leave completes
    (S.JOINING, E.LAST_SESSION_GONE): frozenset({S.LEAVING}),
    (S.JOINED, E.LAST_SESSION_GONE): frozenset({S.LEAVING}),
    (S.JOINING, E.SELF_PRESENCE): frozenset({S.JOINED}),
    (S.JOINED, E.SELF_PRESENCE): frozenset({S.JOINED}),
    (S.LEAVING, E.SELF_PRESENCE): frozenset({S.LEAVING}),
    (S.JOINING, E.SELF_UNAVAILABLE): frozenset({S.ABSENT}),
    (S.JOINED, E.SELF_UNAVAILABLE): frozenset({S.ABSENT, S.REJOINING}),
    # A session that joined while the account was leaving makes the account join again.
    (S.LEAVING, E.SELF_UNAVAILABLE): frozenset({S.ABSENT, S.JOINING}),
    (S.JOINING, E.ROOM_ERROR): frozenset({S.ABSENT}),
    (S.JOINED, E.ROOM_ERROR): frozenset({S.JOINED}),  # e.g. a refused presence update
    (S.LEAVING, E.ROOM_ERROR): frozenset({S.ABSENT, S.JOINING}),
    (S.JOINED, E.ROOM_FORGOT): frozenset({S.REJOINING}),
    (S.JOINED, E.ROOM_GONE): frozenset({S.ABSENT}),
    (S.REJOINING, E.REJOIN_DUE): frozenset({S.REJOINING}),
    (S.REJOINING, E.SESSION_JOIN): frozenset({S.REJOINING}),  # answered from what it knew
    (S.REJOINING, E.SELF_PRESENCE): frozenset({S.JOINED}),
    # Dropped again while rejoining: try again (332/333, transient errors) or give up.
    (S.REJOINING, E.SELF_UNAVAILABLE): frozenset({S.ABSENT, S.REJOINING}),
    (S.REJOINING, E.ROOM_ERROR): frozenset({S.ABSENT, S.REJOINING}),
    # Nobody left to rejoin for: leave if the join is out, else just stop.
    (S.REJOINING, E.LAST_SESSION_GONE): frozenset({S.LEAVING, S.ABSENT}),
}
"""``(state, event) -> the states it may lead to``; a pair missing here is a bug."""


class LifecycleError(RuntimeError):
    """A transition the table does not allow was attempted: a bug in the router."""


def advance(
    state: OccupancyState, event: OccupancyEvent, target: OccupancyState | None = None
) -> OccupancyState:
    """The state after ``event``; ``target`` picks one where the table allows several."""
    allowed = TRANSITIONS.get((state, event))
    if allowed is None:
        raise LifecycleError(f"no transition for {event.value} in state {state.value}")
    if target is None:
        if len(allowed) != 1:
            raise LifecycleError(f"{event.value} in {state.value} needs an explicit target")
        (target,) = allowed
    elif target not in allowed:
        raise LifecycleError(f"{event.value} cannot lead from {state.value} to {target.value}")
    return target
