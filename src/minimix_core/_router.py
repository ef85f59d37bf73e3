"""The public entry point: :class:`Router`."""

from __future__ import annotations

import math

from ._actions import Action, Send
from ._config import Config
from ._events import BookmarksChanged, Event, FromSession, SessionClosed, ToAccount
from ._jid import JID
from ._lifecycle import OccupancyState
from ._room_side import to_account
from ._session_side import from_session, session_gone
from ._stanza import Stanza
from ._table import Table

__all__ = ["LocalProtocolError", "Router"]


class LocalProtocolError(Exception):
    """The host used the API wrongly (a bare session JID, time going back...).

    Raised before anything changes: the router is exactly as it was before the call.
    Bad input from the network never raises; it becomes actions.
    """


class Router:
    """Account-level MUC occupancy for the accounts of one server, sans-IO.

    Hand it every event with the current time and execute the actions it returns, in
    order. It never performs I/O, reads a clock or draws random numbers: the same events
    at the same times always give the same actions.

    >>> from minimix_core import Router, FromSession, JID, parse_stanza
    >>> router = Router()
    >>> join = parse_stanza("<presence to='lounge@muc.example/alice' id='j1'>"
    ...                     "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
    >>> [action] = router.handle(FromSession(session=JID.parse("alice@example.org/phone"),
    ...                                      stanza=join), now=0.0)
    >>> str(action.stanza.from_)
    'alice@example.org'
    """

    def __init__(self, config: Config | None = None) -> None:
        self._config = config if config is not None else Config()
        self._table = Table()
        self._now = -math.inf

    @property
    def config(self) -> Config:
        """The configuration this router was made with."""
        return self._config

    def handle(self, event: Event, *, now: float) -> list[Action]:
        """Process one event at time ``now`` (seconds); execute the returned actions in order.

        Raises :class:`LocalProtocolError`, changing nothing, when the host misuses the API:
        an unknown event type, a session JID without a resource, a :class:`ToAccount`
        stanza whose ``to`` is not a bare JID, or time going back.
        """
        self._check_time(now)
        if isinstance(event, FromSession):
            if event.session.is_bare:
                raise LocalProtocolError(f"session {event.session} is not a full JID")
            actions = from_session(self._table, self._config, event.session, event.stanza)
        elif isinstance(event, ToAccount):
            to = event.stanza.to
            if to is None or not to.is_bare:
                raise LocalProtocolError(f"ToAccount stanza is addressed to {to}, not a bare JID")
            actions = to_account(self._table, self._config, to, event.stanza)
        elif isinstance(event, SessionClosed):
            if event.session.is_bare:
                raise LocalProtocolError(f"session {event.session} is not a full JID")
            account = self._table.accounts.get(event.session.bare)
            actions = [] if account is None else session_gone(self._table, account, event.session)
        elif isinstance(event, BookmarksChanged):
            raise LocalProtocolError("bookmarks are not supported yet")
        else:
            raise LocalProtocolError(f"not an event: {event!r}")
        self._now = now
        return actions

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None`` if never."""
        return None

    def handle_timer(self, now: float) -> list[Action]:
        """Run what is due at ``now``; execute the returned actions in order."""
        self._check_time(now)
        self._now = now
        return []

    def shutdown(self, now: float) -> list[Action]:
        """Leave every room in order, before the server stops; execute the returned actions.

        Each occupancy the account holds or is joining gets an unavailable from the bare
        JID, so no ghost occupant stays behind (a room only notices a vanished occupant when
        a later stanza bounces, and then kicks it). The router forgets everything.
        """
        self._check_time(now)
        self._now = now
        actions: list[Action] = []
        for account in self._table.accounts.values():
            for occupancy in account.rooms.values():
                if occupancy.state is not OccupancyState.LEAVING:
                    to = occupancy.room.with_resource(occupancy.current_nick)
                    unavailable = Stanza("presence", type="unavailable", from_=account.jid, to=to)
                    actions.append(Send(stanza=unavailable))
        self._table = Table()
        return actions

    def _check_time(self, now: float) -> None:
        if not isinstance(now, (int, float)) or math.isnan(now):
            raise LocalProtocolError(f"now must be a number, not {now!r}")
        if now < self._now:
            raise LocalProtocolError(f"time went back from {self._now} to {now}")

    def accounts(self) -> list[JID]:
        """The accounts the router holds state for, in no particular order."""
        return list(self._table.accounts)
