"""The occupancy lifecycle: every legal transition, and each state's entry and exit work.

An account's occupancy of a room is in one of the states of :class:`OccupancyState`.
Handlers never assign a state themselves: they call :func:`transition`, which looks the
``(state, event)`` pair up in :data:`TRANSITIONS`, runs the old state's exit work (cancel
its deadline, forget the id of the request it waited on and, leaving ``JOINED``, every
request that only ``JOINED`` makes: keep-alive ping, nick change, resync, disconnect
grace) and the new state's entry work (its deadline, the id it waits on). A state that
waits for the room always has a deadline, and what happens at it is a row of the table
(event ``DEADLINE``). :class:`LifecycleError` means a bug in the router, never bad input.
The documentation's state diagram is generated from this table.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # the table holds states; the lifecycle only reads and writes it
    from ._core import Core
    from ._table import Account, Occupancy

__all__ = [
    "ROOM_TIMERS",
    "TRANSITIONS",
    "LifecycleError",
    "OccupancyEvent",
    "OccupancyState",
    "advance",
    "transition",
]


class OccupancyState(enum.Enum):
    """Where the account stands with one room."""

    # Members are singletons compared by identity: hashed by it too, in C. Enum's own
    # hash is a Python call, and the state machine hashes a state on every move.
    __hash__ = object.__hash__

    ABSENT = "absent"
    """Not in the room, and not trying to be (the occupancy does not exist)."""
    JOINING = "joining"
    """The account's join was sent; sessions wait in *pending* for the room's answer,
    matched by the join's id (or status 110). Deadline: ``Config.join_timeout``."""
    JOINED = "joined"
    """The room confirmed the account's self-presence; sessions are *attached*."""
    LEAVING = "leaving"
    """The account's unavailable was sent; the room's answer goes to the leaving sessions.
    Deadline: ``Config.leave_timeout``. Then, unless a session or bookmark wants the room
    again, the leave is said once more and waited for as long again, after which the
    account counts as left."""
    REJOIN_WAIT = "rejoin-wait"
    """The room dropped the account through no fault of its own (332, 333, a failed
    keep-alive, a ``wait`` error): the account joins again after a back-off delay while
    its sessions stay attached, unaware."""
    REJOIN_SENT = "rejoin-sent"
    """The rejoin was sent; the room's answer is matched by its id. Deadline:
    ``Config.join_timeout``, after which the rejoin counts as failed and is tried again."""


class OccupancyEvent(enum.Enum):
    """What can move an occupancy from one state to another."""

    __hash__ = object.__hash__  # as OccupancyState's

    SESSION_JOIN = "session-join"
    """A session asks to join (or resync)."""
    AUTOJOIN = "autojoin"
    """An autojoin bookmark (or a restart) makes the account join with no session asking."""
    SELF_PRESENCE = "self-presence"
    """The room sent the account's own available presence (the answer to its join)."""
    JOIN_REFUSED = "join-refused"
    """The room answered the account's join (or rejoin) with an error."""
    REMOVED = "removed"
    """The room removed the account: kick, ban, membership, shutdown, destruction."""
    ROOM_FORGOT = "room-forgot"
    """The room no longer has the account: a keep-alive ping answered "not joined", or a
    message refused because the account is not an occupant."""
    ROOM_GONE = "room-gone"
    """The room itself no longer exists (a keep-alive ping answered by the service)."""
    LEAVE = "leave"
    """Nobody needs the account in the room any more: its last session left or closed,
    the disconnect grace ran out, or the autojoin bookmark went."""
    LEFT = "left"
    """The room answered the account's leave."""
    REJOIN_DUE = "rejoin-due"
    """The rejoin delay passed: the account sends its join again."""
    DEADLINE = "deadline"
    """The room did not answer in time."""
    EARLIER_ANSWER = "earlier-answer"
    """The room's answer to the account's join before its last one came mixed with the
    last one's (by their ids): whom it named may be gone since, so the account joins
    again to have the room name everyone it has (§7.2.1)."""


class S:
    """:class:`OccupancyState`'s members, for the code that reads them per event.

    In CPython 3.11, reading an attribute of an Enum class goes through the hook that
    ``EnumType.__getattr__`` installs: about 70 ns, ten times a plain class's. Every
    member is here (``tests/test_lifecycle.py`` checks it).
    """

    ABSENT: Final = OccupancyState.ABSENT
    JOINING: Final = OccupancyState.JOINING
    JOINED: Final = OccupancyState.JOINED
    LEAVING: Final = OccupancyState.LEAVING
    REJOIN_WAIT: Final = OccupancyState.REJOIN_WAIT
    REJOIN_SENT: Final = OccupancyState.REJOIN_SENT


class E:
    """:class:`OccupancyEvent`'s members, as :class:`S` holds the states."""

    SESSION_JOIN: Final = OccupancyEvent.SESSION_JOIN
    AUTOJOIN: Final = OccupancyEvent.AUTOJOIN
    SELF_PRESENCE: Final = OccupancyEvent.SELF_PRESENCE
    JOIN_REFUSED: Final = OccupancyEvent.JOIN_REFUSED
    REMOVED: Final = OccupancyEvent.REMOVED
    ROOM_FORGOT: Final = OccupancyEvent.ROOM_FORGOT
    ROOM_GONE: Final = OccupancyEvent.ROOM_GONE
    LEAVE: Final = OccupancyEvent.LEAVE
    LEFT: Final = OccupancyEvent.LEFT
    REJOIN_DUE: Final = OccupancyEvent.REJOIN_DUE
    DEADLINE: Final = OccupancyEvent.DEADLINE
    EARLIER_ANSWER: Final = OccupancyEvent.EARLIER_ANSWER


TRANSITIONS: Final[dict[tuple[OccupancyState, OccupancyEvent], frozenset[OccupancyState]]] = {
    (S.ABSENT, E.SESSION_JOIN): frozenset({S.JOINING}),
    (S.ABSENT, E.AUTOJOIN): frozenset({S.JOINING}),
    # Further sessions wait for (JOINING, LEAVING, a rejoin) or are answered from what the
    # account knows (JOINED).
    (S.JOINING, E.SESSION_JOIN): frozenset({S.JOINING}),
    (S.JOINED, E.SESSION_JOIN): frozenset({S.JOINED}),
    (S.LEAVING, E.SESSION_JOIN): frozenset({S.LEAVING}),
    # While rejoining, a session waits for the rejoin (one waiting to be sent goes at
    # once); a bookmarked room that was never joined is joined at once for it (its join
    # in flight, if any, becomes the session's).
    (S.REJOIN_WAIT, E.SESSION_JOIN): frozenset({S.REJOIN_WAIT, S.JOINING}),
    (S.REJOIN_SENT, E.SESSION_JOIN): frozenset({S.REJOIN_SENT, S.JOINING}),
    (S.JOINING, E.SELF_PRESENCE): frozenset({S.JOINED}),
    (S.REJOIN_SENT, E.SELF_PRESENCE): frozenset({S.JOINED}),
    # Refused: out for good, or (a wait-type error for a bookmarked room) try again later.
    (S.JOINING, E.JOIN_REFUSED): frozenset({S.ABSENT, S.REJOIN_WAIT}),
    (S.REJOIN_SENT, E.JOIN_REFUSED): frozenset({S.ABSENT, S.REJOIN_WAIT}),
    # 332/333 are not the account's fault: rejoin; kick, ban, destroy are: out.
    (S.JOINING, E.REMOVED): frozenset({S.ABSENT, S.REJOIN_WAIT}),
    (S.JOINED, E.REMOVED): frozenset({S.ABSENT, S.REJOIN_WAIT}),
    (S.REJOIN_SENT, E.REMOVED): frozenset({S.ABSENT, S.REJOIN_WAIT}),
    # Restored after a restart, still in the room until its rejoin's turn: kicked, it is out.
    (S.REJOIN_WAIT, E.REMOVED): frozenset({S.ABSENT}),
    (S.JOINED, E.ROOM_FORGOT): frozenset({S.REJOIN_SENT}),
    (S.JOINED, E.EARLIER_ANSWER): frozenset({S.REJOIN_SENT}),
    (S.JOINED, E.ROOM_GONE): frozenset({S.ABSENT}),
    (S.JOINING, E.LEAVE): frozenset({S.LEAVING}),
    (S.JOINED, E.LEAVE): frozenset({S.LEAVING}),
    (S.REJOIN_SENT, E.LEAVE): frozenset({S.LEAVING}),
    # The room has forgotten us already; one restored after a restart has not: it is left.
    (S.REJOIN_WAIT, E.LEAVE): frozenset({S.ABSENT, S.LEAVING}),
    # Sessions that joined while the account was leaving make it join again.
    (S.LEAVING, E.LEFT): frozenset({S.ABSENT, S.JOINING}),
    (S.REJOIN_WAIT, E.REJOIN_DUE): frozenset({S.REJOIN_SENT}),
    # No answer in time. A join: the sessions get remote-server-timeout and the account
    # leaves, in case the room admitted it late (a bookmarked room tries again later). A
    # leave counts as done. A rejoin is tried again with back-off, or given up: the
    # account leaves, in case the room admitted the last try late.
    (S.JOINING, E.DEADLINE): frozenset({S.LEAVING, S.REJOIN_WAIT}),
    (S.LEAVING, E.DEADLINE): frozenset({S.ABSENT, S.JOINING}),
    (S.REJOIN_SENT, E.DEADLINE): frozenset({S.LEAVING, S.REJOIN_WAIT}),
}
"""``(state, event) -> the states it may lead to``; a pair missing here is a bug."""

WAITING: Final = frozenset({S.JOINING, S.LEAVING, S.REJOIN_WAIT, S.REJOIN_SENT})
"""The states that wait for the room or a delay, each with a deadline."""

IN_ROOM: Final = frozenset({S.JOINED, S.REJOIN_WAIT, S.REJOIN_SENT})
"""The states in which the sessions are attached and believe they are in the room."""

# Timers that belong to JOINED alone: cancelled whenever the occupancy leaves it.
# (The keep-alive's deadline is the occupancy's ping_at, under one timer per account.)
_JOINED_TIMERS: Final = ("nick", "resync", "grace")
ROOM_TIMERS: Final = ("state", *_JOINED_TIMERS)
"""Every kind of timer an occupancy can have (keyed ``(kind, account, room)``)."""


class LifecycleError(RuntimeError):
    """A transition the table does not allow was attempted: a bug in the router."""


def advance(
    state: OccupancyState, event: OccupancyEvent, target: OccupancyState | None = None
) -> OccupancyState:
    """The state after ``event``; ``target`` picks one where the table allows several.

    Raises :class:`LifecycleError` for a pair or target the table does not allow.
    """
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


_AWAITING_JOIN: Final = frozenset({S.JOINING, S.REJOIN_SENT})


def transition(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    event: OccupancyEvent,
    target: OccupancyState | None = None,
    *,
    request_id: str | None = None,
    delay: float | None = None,
) -> OccupancyState:
    """Move ``occupancy`` by ``event``, running exit and entry work; return the new state.

    A move to the same state changes nothing (a waiting state keeps its deadline: a
    session repeating its join does not delay the answer). ``request_id`` is the id of
    the stanza the new state waits on (the join, leave or rejoin just sent); ``delay``
    the seconds ``REJOIN_WAIT`` waits before rejoining. Entering ``ABSENT`` forgets the
    occupancy: its links, timers and request ids.
    """
    old = occupancy.state
    new = advance(old, event, target)
    if new is old:
        return new
    if old in _AWAITING_JOIN and new not in _AWAITING_JOIN and new is not S.JOINED:
        occupancy.unanswered(occupancy.join_id)  # a deadline, a leave: it may come yet
    _exit(core, account, occupancy, old)
    occupancy.state = new
    occupancy.restored = False
    if new is not S.JOINED and not (new is S.LEAVING and old in (S.JOINED, S.REJOIN_SENT)):
        # Leaving during a rejoin (or its join sequence), what the room re-sends is known
        # to the sessions that were in: the resync goes on until the subject, as in the
        # room, so nothing is shown twice (see _room_presence.known).
        occupancy.resync = None
    if new is S.ABSENT:
        _forget(core, account, occupancy)
        return new
    occupancy.request_id = request_id
    config = core.config
    key = ("state", account.jid, occupancy.room)
    if new is S.JOINING or new is S.REJOIN_SENT:
        core.schedule(key, config.join_timeout)
    elif new is S.LEAVING:
        core.schedule(key, config.leave_timeout)
    elif new is S.REJOIN_WAIT:
        core.schedule(key, config.rejoin_delay if delay is None else delay)
    return new


def _exit(core: Core, account: Account, occupancy: Occupancy, old: OccupancyState) -> None:
    room = occupancy.room
    timers = core.timers
    timers.cancel(("state", account.jid, room))
    occupancy.request_id = None
    occupancy.ping_id = None
    if old is S.JOINED:
        for kind in _JOINED_TIMERS:
            timers.cancel((kind, account.jid, room))
        occupancy.ping_failures = 0
        occupancy.nick_change = None
        if occupancy.ping_at is not None:
            occupancy.ping_at = None
            core.arm_keepalive(account)


def _forget(core: Core, account: Account, occupancy: Occupancy) -> None:
    """The account is out of the room: forget the occupancy and its links.

    Its timers went with the state it left (``_exit``).
    """
    room = occupancy.room
    for sessions in (occupancy.attached, occupancy.pending, occupancy.leaving):
        for session in sessions:
            account.unlink(session, room)
    core.table.leave(account, room)
    core.forget_if_idle(account)
