"""Actions: what the host must do, returned in order by every router call.

Every stanza handed to the router has exactly one explicit fate among these: it is
rewritten and sent (:class:`Send`, :class:`Deliver`), answered by the router, handed
back to normal routing (:class:`Continue`), kept for the account while no session can
take it (:class:`Archive`, :class:`Unattended`), or dropped with a reason
(:class:`Discard`).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from attrs import frozen

from ._jid import JID
from ._stanza import Stanza

__all__ = [
    "Action",
    "Archive",
    "Continue",
    "Deliver",
    "Discard",
    "DiscardReason",
    "Send",
    "Unattended",
]


def _tuple_eq(action: tuple[object, ...], other: object) -> bool:
    """An action made a tuple for speed equals only an action of its own type.

    Any other tuple (a plain one, another action) is unequal; anything else decides for
    itself (``unittest.mock.ANY`` equals every action).
    """
    if type(other) is type(action):
        return tuple.__eq__(action, other)
    if isinstance(other, tuple):
        return False
    return NotImplemented  # type: ignore[no-any-return]


def _tuple_ne(action: tuple[object, ...], other: object) -> bool:
    equal = _tuple_eq(action, other)
    return equal if equal is NotImplemented else not equal


@frozen(kw_only=True)
class Send:
    """Route ``stanza`` to the network; its ``from`` is the account's bare JID."""

    stanza: Stanza


class Deliver(NamedTuple):
    """Deliver ``stanza`` to the local session ``session`` (its ``to``).

    A named tuple, not an attrs class like the other actions: a room message makes one per
    attached session, and a tuple is the cheapest immutable value to build. It equals only
    another ``Deliver``.
    """

    session: JID
    stanza: Stanza

    def __eq__(self, other: object) -> bool:
        return _tuple_eq(self, other)

    def __ne__(self, other: object) -> bool:
        return _tuple_ne(self, other)

    def __hash__(self) -> int:
        return tuple.__hash__(self)


@frozen(kw_only=True)
class Continue:
    """Not the router's business: route ``stanza`` as the server would without it."""

    stanza: Stanza


class DiscardReason(enum.StrEnum):
    """Why a stanza was dropped: short, stable strings a log can print."""

    FORGED_FROM = "forged-from"
    """A session's stanza carried a ``from`` of another session or account."""
    ERROR_TO_ROOM = "error-to-room"
    """An error from a session to a room: the room would eject the account for it."""
    NOT_IN_ROOM = "not-in-room"
    """A leave or update for a room the session is not in; a room would not answer."""
    PRESENCE_UPDATE = "presence-update"
    """A presence update to a room that the router does not forward."""
    NO_SESSION = "no-session"
    """Room traffic for an account with no session to deliver it to."""
    UNEXPECTED = "unexpected"
    """Room traffic that matches nothing the account asked for (a stale reply)."""
    MALFORMED = "malformed"
    """A stanza that makes no sense (an unknown type, a required part missing)."""
    KEEPALIVE = "keepalive"
    """The answer to the router's own keep-alive ping (XEP-0410)."""
    REJOINING = "rejoining"
    """The room dropped the account through no fault of its own; the router rejoins and
    the sessions are not bothered."""
    RESYNC = "resync"
    """What a room re-sends after a rejoin and the sessions already know."""
    DUPLICATE = "duplicate"
    """A room message the account already had (the same XEP-0359 stanza-id, or the same
    sender, id and body): a retransmission, or a join's history repeating it."""
    STALE = "stale"
    """An answer to a request the router no longer waits for (a late or duplicated
    reply: its id matches nothing in flight)."""
    JOIN_REFUSED = "join-refused"
    """The room refused a join the router made on its own (autojoin, rejoin); no
    session waits for the answer."""
    HELD = "held"
    """A session's presence update while the account rejoins: the rejoin carries it. Or
    while its join waits for the end of a rejoin's join sequence: the update after its
    answer carries it."""


@frozen(kw_only=True)
class Discard:
    """Send ``stanza`` nowhere, on purpose; ``reason`` says why (log it).

    What the router learnt from it is kept all the same: an occupant's presence or the
    subject that no session could take still reaches the devices that join later.
    """

    stanza: Stanza
    reason: DiscardReason


class Archive(NamedTuple):
    """Store ``stanza``, a room's message, once in ``account``'s own archive (XEP-0313).

    Offered once per message however many sessions are attached, and only for messages
    the account has not been offered before (a rejoin's repeated history is not). A named
    tuple, as :class:`Deliver`: one is made per room message. It equals only another
    ``Archive``.
    """

    account: JID
    stanza: Stanza

    def __eq__(self, other: object) -> bool:
        return _tuple_eq(self, other)

    def __ne__(self, other: object) -> bool:
        return _tuple_ne(self, other)

    def __hash__(self) -> int:
        return tuple.__hash__(self)


@frozen(kw_only=True)
class Unattended:
    """A room message arrived while none of ``account``'s sessions was attached.

    A host can send a push notification for it; ``mentions`` says whether the body names
    the account's nick in the room. The message is kept in the occupancy's history.
    """

    account: JID
    room: JID
    stanza: Stanza
    mentions: bool


Action = Send | Deliver | Continue | Discard | Archive | Unattended
"""Any action the router returns."""
