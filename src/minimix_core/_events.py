"""Events: the facts a host hands to :meth:`Router.handle`.

Each is a frozen, slotted, keyword-only value. Time is never part of an event; it comes
as the ``now`` argument of every call.
"""

from __future__ import annotations

from attrs import field, frozen

from ._jid import JID
from ._stanza import Stanza

__all__ = ["Bookmark", "BookmarksChanged", "Event", "FromSession", "SessionClosed", "ToAccount"]


@frozen(kw_only=True)
class FromSession:
    """A local client session sent ``stanza``.

    ``session`` is the session's full JID as the server authenticated it; the router
    trusts it and never a ``from`` the client wrote.
    """

    session: JID
    stanza: Stanza


@frozen(kw_only=True)
class ToAccount:
    """``stanza`` arrived for a local account's bare JID (its ``to``).

    Hand every stanza addressed to an account's bare JID to the router before routing
    it normally: the router claims room traffic and answers ``Continue`` for the rest.
    """

    stanza: Stanza


@frozen(kw_only=True)
class SessionClosed:
    """A session ended for good: stream closed, XEP-0198 resumption timed out, replaced.

    A session that is merely hibernating (XEP-0198) has not closed; do not send this
    until it cannot come back.
    """

    session: JID


@frozen(kw_only=True)
class Bookmark:
    """One XEP-0402 bookmark: a room the account wants to be in, or not."""

    room: JID
    """The room's bare JID (the PEP item id)."""
    autojoin: bool = False
    nick: str | None = None
    password: str | None = None
    name: str | None = None


@frozen(kw_only=True)
class BookmarksChanged:
    """The account's complete set of bookmarks is now ``bookmarks``."""

    account: JID
    bookmarks: tuple[Bookmark, ...] = field(default=())


Event = FromSession | ToAccount | SessionClosed | BookmarksChanged
"""Any event :meth:`Router.handle` takes."""
