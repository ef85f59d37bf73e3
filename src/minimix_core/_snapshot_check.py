"""What a restore checks beyond each field's type: that the table it loads can run.

A snapshot is the host's own file, yet a damaged one must be refused whole, never leave a
router that raises or waits for good later: a deadline names what it waits for, a state
has its deadline, and an error says where in the snapshot the damage is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from ._core import Core, TimerKey
from ._lifecycle import ROOM_TIMERS, WAITING, OccupancyState
from ._snapshot_codec import Json, SnapshotError

__all__ = ["DAMAGE", "check_deadline", "check_states", "label", "within"]

_RESTORED: Final = frozenset({OccupancyState.REJOIN_WAIT, OccupancyState.JOINED})
"""The states a restart leaves the rooms it keeps in (``_restart.after_restart``)."""

DAMAGE: Final = (
    KeyError,
    TypeError,
    ValueError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,  # elements nested deeper than the reader goes
)
"""What reading a damaged snapshot raises, where no check names the damage."""


@contextmanager
def within(where: str) -> Iterator[None]:
    """Say where in the snapshot the damage is: the account, the room, the timer."""
    try:
        yield
    except SnapshotError as exc:
        raise SnapshotError(f"{where}: {exc}") from exc
    except DAMAGE as exc:
        raise SnapshotError(f"{where}: malformed snapshot: {exc!r}") from exc


def label(jid: Json) -> str:
    """An account's or a room's JID as the snapshot wrote it, for an error message."""
    return jid if isinstance(jid, str) else repr(jid)


def check_deadline(core: Core, key: TimerKey) -> None:
    """An IQ's deadline names an IQ in flight, a room's a room the account is in.

    The handler looks them up when the deadline falls due.
    """
    kind, jid, detail = key
    account = core.table.accounts.get(jid)
    if kind == "iq":
        if account is None or detail not in account.pending_iqs:
            raise SnapshotError(f"an IQ deadline for no IQ in flight: {detail!r}")
    elif kind in ROOM_TIMERS:
        if account is None or detail not in account.rooms:
            raise SnapshotError(f"a {kind} deadline for a room the account is not in: {detail}")
        joined = account.rooms[detail].state is OccupancyState.JOINED
        if kind == "state" and joined:
            # Joined is the one state without a deadline (the table has no row for it).
            raise SnapshotError(f"a state deadline for a room joined: {detail}")
        if kind != "state" and not joined:
            # Cancelled whenever the occupancy leaves JOINED (_lifecycle.advance).
            raise SnapshotError(f"a {kind} deadline for a room not joined: {detail}")


def check_states(core: Core) -> None:
    """Each occupancy's state goes with the rest of the table, as the router leaves it.

    A state that waits (for the room or a delay) has its deadline, or its turn in the
    autojoin queue: without either no input could ever move it on. One restored after a
    restart is back in the room as the restart left it, waiting for its turn to rejoin or
    to leave (``_restart.after_restart``); in any other state its turn would find no
    transition.
    """
    for jid, account in core.table.accounts.items():
        for room, occupancy in account.rooms.items():
            state = occupancy.state
            if occupancy.restored and state not in _RESTORED:
                raise SnapshotError(f"{room}, restored after a restart, is {state.value}")
            if (
                state in WAITING
                and core.timers.when(("state", jid, room)) is None
                and (jid, room) not in core.autojoins
            ):
                raise SnapshotError(f"{room} waits ({state.value}) with no deadline")
