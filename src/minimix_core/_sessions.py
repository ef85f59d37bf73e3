"""A session's part in an occupancy: what it asked for, and the roles it is in.

An occupancy holds its sessions in three roles (attached, waiting, leaving), each a
:data:`Sessions` mapping; most have one session at most in each, held without a dict. A
session's IQs to rooms and its nick changes wait here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn, TypeAlias, TypeVar

from ._jid import JID
from ._place import Place
from ._stanza import Element, Stanza

__all__ = [
    "NO_ENTRIES",
    "Attachment",
    "NickChange",
    "PendingIQ",
    "Sessions",
    "SoleSession",
    "add_session",
    "drop_session",
    "writable",
]

_K = TypeVar("_K")
_V = TypeVar("_V")


class _NoEntries(dict[Any, Any]):
    """An empty dict that refuses entries: shared by every container that has none.

    Most occupancies never have a session waiting, leaving, or an occupant cached; an
    empty dict costs 64 bytes each. Reading it is reading any empty dict; adding to it
    raises, so a write site that forgot :func:`writable` fails at once instead of
    filling every occupancy's container at the same time.
    """

    __slots__ = ()

    def _refuse(self, *_: object, **__: object) -> NoReturn:
        raise TypeError("the shared empty mapping takes no entries: use writable()")

    __setitem__ = setdefault = update = __ior__ = _refuse


NO_ENTRIES: dict[Any, Any] = _NoEntries()
"""The one empty mapping that containers without entries point at (see :func:`writable`)."""


def writable(entries: dict[_K, _V]) -> dict[_K, _V]:
    """``entries`` itself, or a new dict in place of :data:`NO_ENTRIES`."""
    return {} if entries is NO_ENTRIES else entries


class PendingIQ:
    """An IQ a session sent to a room under an id the router made up."""

    __slots__ = ("original_id", "query_id", "room", "session", "session_closed", "to")

    def __init__(
        self, *, session: JID, original_id: str, to: JID, query_id: str | None = None
    ) -> None:
        self.session = session
        self.original_id = original_id
        """The session's own id, restored on the answer."""
        self.to = to
        """Where the IQ went: an error the router makes for it comes from there."""
        self.room = to.bare
        self.query_id = query_id
        """The session's own MAM ``queryid`` (XEP-0313), restored on each result."""
        self.session_closed = False
        """The session is gone; its answer will be discarded when it comes."""


class Attachment:
    """What one session asked for when it joined one room."""

    __slots__ = (
        "bounced",
        "join_id",
        "leave_id",
        "left",
        "nick",
        "payload",
        "position",
        "request",
        "seq",
        "since",
    )

    def __init__(
        self,
        *,
        join_id: str | None,
        nick: str,
        request: Stanza | None,
        payload: tuple[Element, ...] = (),
        seq: int = 0,
    ) -> None:
        self.join_id = join_id
        """The ``id`` of the session's join presence, reflected on its self-presence."""
        self.nick = nick
        """The nickname the session asked for (the room's nick may differ: status 210)."""
        self.request = request
        """The session's join presence, for the account's join if it has to make one;
        ``None`` once the session is attached (the account is in: no join is made from
        it any more)."""
        self.payload = payload
        """The session's latest presence in the room (show, status...), for the aggregate."""
        self.seq = seq
        """When that presence came, in router order: the latest wins a tie."""
        self.position: Place | None = None
        """What this device had when it last left (its :class:`RoomMemory` numbers, see
        :mod:`~minimix_core._place`), if it came back within ``Config.device_memory``."""
        self.since = 0
        """The newest message of the room when this session came: it gets every later one
        live (a :class:`RoomMemory` number)."""
        self.left = False
        """The session left by itself (its own unavailable), not taken out by the router
        (a bookmark went)."""
        self.leave_id: str | None = None
        """The ``id`` of the session's own leave."""
        self.bounced: tuple[int, ...] | None = None
        """The messages (their :class:`RoomMemory` numbers, ascending) whose delivery to
        this session bounced: the device missed them, and got the others. Only those the
        history still holds."""


Sessions: TypeAlias = Mapping[JID, Attachment]
"""An occupancy's sessions in one role (attached, pending, leaving), in the order they
came: :data:`NO_ENTRIES`, a :class:`SoleSession`, or a dict. Changed only through
:func:`add_session` and :func:`drop_session`."""


class SoleSession(Mapping[JID, Attachment]):
    """One session and its attachment, as a read-only mapping.

    Most occupancies have one session in each role: this holds it in 48 bytes, where a
    dict with one entry takes 224 (CPython 3.11).
    """

    __slots__ = ("attachment", "session")

    def __init__(self, session: JID, attachment: Attachment) -> None:
        self.session = session
        self.attachment = attachment

    def __getitem__(self, session: JID) -> Attachment:
        if session == self.session:
            return self.attachment
        raise KeyError(session)

    def __contains__(self, session: object) -> bool:
        return session == self.session

    def __iter__(self) -> Iterator[JID]:
        return iter((self.session,))

    def __len__(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f"SoleSession({self.session!r}, {self.attachment!r})"


def add_session(sessions: Sessions, session: JID, attachment: Attachment) -> Sessions:
    """``sessions`` with ``session``'s ``attachment`` added last (or put in its place).

    A dict is changed in place; the result is the value to keep.
    """
    if not sessions or (type(sessions) is SoleSession and session in sessions):
        return SoleSession(session, attachment)
    grown = sessions if type(sessions) is dict else dict(sessions)
    grown[session] = attachment
    return grown


def drop_session(sessions: Sessions, session: JID) -> tuple[Sessions, Attachment | None]:
    """``sessions`` without ``session``, and the attachment it had (``None``: it had none).

    A dict is changed in place; the first value is the one to keep.
    """
    if type(sessions) is dict:
        return sessions, sessions.pop(session, None)
    if session in sessions:
        return NO_ENTRIES, sessions[session]
    return sessions, None


class NickChange:
    """A session asked the room for another nick (§7.6); the answer is for it alone."""

    __slots__ = ("nick", "request_id", "resync", "sent_id", "session")

    def __init__(
        self,
        session: JID | None,
        nick: str,
        request_id: str | None,
        sent_id: str | None,
        *,
        resync: bool,
    ) -> None:
        self.session: JID | None = session
        """The session that asked; ``None`` once it left (the answer then goes nowhere)."""
        self.nick = nick
        self.request_id = request_id
        """The session's own id, restored on the answer it gets."""
        self.sent_id = sent_id
        """The id the account's request carries: the room's error is matched by it."""
        self.resync = resync
        """It came as a join (muc ``<x/>``): the session wants the room's state again."""
