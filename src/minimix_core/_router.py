"""The public entry point: :class:`Router`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ._actions import Action, Send
from ._bookmarks import bookmarks_changed
from ._config import Config
from ._core import LATEST, Core, keepalive_timer
from ._events import Bookmark, BookmarksChanged, Event, FromSession, SessionClosed, ToAccount
from ._jid import JID
from ._lifecycle import ROOM_TIMERS, OccupancyState
from ._room_side import room_message, to_account
from ._session_side import from_session, session_closed, session_join
from ._snapshot import adopt_into, dump_core, load_core
from ._snapshot_codec import SnapshotError
from ._stanza import Stanza
from ._timers import run_timers
from ._view import OccupancyView, view_of

__all__ = ["LocalProtocolError", "Router"]

_JOINED = OccupancyState.JOINED


class LocalProtocolError(Exception):
    """The host used the API wrongly (a bare session JID, time going back...).

    Raised before anything changes: the router is exactly as it was before the call.
    Bad input from the network never raises; it becomes actions.
    """


def _check_types(event: object) -> None:
    """The event's fields are what they say: a wrong type is the host's bug, not input."""
    session = getattr(event, "session", None)
    if isinstance(event, (FromSession, SessionClosed)) and not isinstance(session, JID):
        raise LocalProtocolError(f"session must be a JID, not {session!r}")
    stanza = getattr(event, "stanza", None)
    if isinstance(event, (FromSession, ToAccount)) and not isinstance(stanza, Stanza):
        raise LocalProtocolError(f"stanza must be a Stanza (parse_stanza), not {stanza!r}")
    if isinstance(event, BookmarksChanged) and not (
        isinstance(event.account, JID) and all(isinstance(b, Bookmark) for b in event.bookmarks)
    ):
        raise LocalProtocolError("BookmarksChanged needs a JID and Bookmark values")


_STATE_DEADLINES = {
    OccupancyState.JOINING: "join-timeout",
    OccupancyState.LEAVING: "leave-timeout",
    OccupancyState.REJOIN_WAIT: "rejoin",
    OccupancyState.REJOIN_SENT: "rejoin-timeout",
}


def _due_kind(core: Core, kind: str, account: JID, detail: JID | str) -> str:
    """The name a person reads for a timer: what happens when it fires."""
    if kind == "nick":
        return "nick-timeout"
    if kind != "state" or isinstance(detail, str):
        return kind
    return _STATE_DEADLINES[core.table.accounts[account].rooms[detail].state]


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
        self._core = Core(self._config)
        self._now = -math.inf

    @property
    def config(self) -> Config:
        """The configuration this router was made with."""
        return self._config

    def handle(self, event: Event, *, now: float) -> list[Action]:
        """Process one event at time ``now``; execute the returned actions in order.

        ``now`` is the wall clock in POSIX seconds (``time.time()``): the delay stamps of
        replayed history are written from it (XEP-0203), so a monotonic clock would date
        them wrong.

        Raises :class:`LocalProtocolError`, changing nothing, when the host misuses the API:
        an unknown event type, a session JID without a resource, a :class:`ToAccount`
        stanza whose ``to`` is not a bare JID or whose ``from`` is no JID, a ``now`` that
        is not a number of seconds from 0 to the end of year 9999 (the range an XEP-0082
        timestamp can say; a host passing milliseconds is caught here), or time going back.
        """
        core = self._core
        if type(now) is float and 0.0 <= self._now <= now <= LATEST:
            # Room traffic and the sessions' stanzas are what a server hands over: their
            # checks come first and cost one comparison each; anything unusual (a subclass,
            # an int for now) takes the full checks below.
            if type(event) is ToAccount:
                stanza = event.stanza
                to = stanza.to if type(stanza) is Stanza else None
                if type(to) is JID and to.resource is None and type(sender := stanza.from_) is JID:
                    self._now = core.now = now
                    account = core.table.accounts.get(to)
                    if account is not None and stanza.type == "groupchat":
                        # An occupant's message to an account in the room, in no rejoin:
                        # most of what a server hands over, routed here without the
                        # frame of to_account (which would find what these checks find).
                        occupancy = account.rooms.get((sender[0], sender[1], None))  # type: ignore[call-overload]
                        if (
                            occupancy is not None
                            and occupancy.state is _JOINED
                            and occupancy.resync is None
                            and sender.resource is not None
                            and stanza.kind == "message"
                        ):
                            occupancy.last_seen = now
                            return room_message(core, account, occupancy, stanza, sender.resource)
                    return to_account(core, to, stanza)
            elif type(event) is FromSession:
                session, stanza = event.session, event.stanza
                if type(session) is JID and session.resource is not None and type(stanza) is Stanza:
                    self._now = core.now = now
                    if stanza.kind == "presence":
                        # Mostly a device joining or asking again: session_join's first.
                        return session_join(core, session, stanza)
                    return from_session(core, session, stanza)
        self._check_clock(now)
        _check_types(event)
        if isinstance(event, FromSession):
            self._full(event.session)
            self._now = core.now = now  # checked above; the event is well-formed
            return from_session(core, event.session, event.stanza)
        if isinstance(event, ToAccount):
            to = event.stanza.to
            if not isinstance(to, JID) or not to.is_bare:
                raise LocalProtocolError(f"ToAccount stanza is addressed to {to}, not a bare JID")
            sender = event.stanza.from_
            if sender is not None and not isinstance(sender, JID):
                # to_account finds the room by the sender's parts, not by sender.bare.
                raise LocalProtocolError(f"ToAccount stanza is from {sender!r}, not a JID")
            self._now = core.now = now  # checked above; the event is well-formed
            return to_account(core, to, event.stanza)
        if isinstance(event, SessionClosed):
            self._full(event.session)
            self._now = core.now = now  # checked above; the event is well-formed
            return session_closed(core, event.session)
        if isinstance(event, BookmarksChanged):
            if not event.account.is_bare:
                raise LocalProtocolError(f"account {event.account} is not a bare JID")
            self._now = core.now = now  # checked above; the event is well-formed
            return bookmarks_changed(core, event.account, event.bookmarks)
        raise LocalProtocolError(f"not an event: {event!r}")

    @staticmethod
    def _full(session: JID) -> None:
        if session.is_bare:
            raise LocalProtocolError(f"session {session} is not a full JID")

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None`` if nothing is due ever.

        Call :meth:`handle_timer` at that time (or later); calling it early does no harm.
        """
        return self._core.next_deadline()

    def upcoming(self) -> list[tuple[float, str, JID, JID | str]]:
        """Every live deadline, earliest first, as ``(seconds, kind, account, detail)``.

        Read-only, for tools and logs that show what the router waits for (the replay
        command prints it); a host needs only :meth:`next_deadline`, which is the first
        entry's time. ``kind`` is what happens then: ``"join-timeout"``,
        ``"leave-timeout"``, ``"rejoin"`` or ``"rejoin-timeout"`` (the deadline of the
        occupancy of the room ``detail``, by its state; a leave the room did not answer is
        said once more and has a second ``"leave-timeout"``), ``"ping"`` (the XEP-0410 keep-alive
        looks at that room: it pings it after ``Config.keepalive_idle`` seconds of silence,
        counts a ping unanswered after ``Config.keepalive_timeout`` and asks again later,
        or finds that the room spoke since and waits on; one timer per account serves
        all its rooms), ``"nick-timeout"`` (a nick change there gets no answer),
        ``"resync"`` (the end of a rejoin's join sequence, or of a join's that an
        earlier join's answer came into, should the room send no subject), ``"grace"``
        (the account's last session in that room disconnected, :class:`SessionClosed`: it
        leaves unless a session comes back within ``Config.disconnect_grace``), ``"iq"``
        (``detail`` is the id of an IQ a room has not answered yet: it times out),
        ``"forget"`` (``detail`` is the account's own bare JID; the account has been idle
        ``Config.device_memory`` seconds: what it remembers of its rooms goes) or
        ``"autojoin"`` (the next room of the bookmark autojoin queue; the rest of the queue
        follows ``Config.autojoin_interval`` apart).
        """
        core = self._core
        due = [
            (when, _due_kind(core, kind, account, detail), account, detail)
            for when, kind, account, detail in core.deadlines()
        ]
        queued = core.autojoins.next_deadline()
        if queued is not None:
            account, room = core.autojoins.items()[0]
            due.append((queued, "autojoin", account, room))
        return sorted(due, key=lambda item: item[0])

    def handle_timer(self, now: float) -> list[Action]:
        """Run everything due at ``now``; execute the returned actions in order."""
        self._advance_clock(now)
        return run_timers(self._core)

    def shutdown(self, now: float) -> list[Action]:
        """Leave every room in order, before the server stops; execute the returned actions.

        Each occupancy the account holds or is joining gets an unavailable from the bare
        JID, so no ghost occupant stays behind (a room only notices a vanished occupant when
        a later stanza bounces, and then kicks it). One being left has its leave on the way
        already and gets none. The router forgets everything.
        """
        self._advance_clock(now)
        actions: list[Action] = []
        for account in self._core.table.accounts.values():
            for occupancy in account.rooms.values():
                # Waiting to rejoin, the room has forgotten the account already (unless
                # restored after a restart: then it still counts the account).
                waiting = occupancy.state is OccupancyState.REJOIN_WAIT and not occupancy.restored
                if occupancy.state is not OccupancyState.LEAVING and not waiting:
                    to = occupancy.room.with_resource(occupancy.current_nick)
                    unavailable = Stanza("presence", type="unavailable", from_=account.jid, to=to)
                    actions.append(Send(stanza=unavailable))
        self._core = Core(self._config)
        return actions

    def snapshot(self, accounts: Iterable[JID] | None = None) -> dict[str, Any]:
        """Everything the router knows, as a JSON-safe, versioned dict.

        ``json.dumps`` it, store it, and :meth:`restore` it after a restart. With
        ``accounts`` (bare JIDs), only what concerns those accounts: hand it to another
        process's :meth:`adopt` and :meth:`forget` them here, to move them. Taking a
        snapshot changes nothing.
        """
        chosen = None if accounts is None else frozenset(accounts)
        return dump_core(self._core, chosen)

    def adopt(self, snapshot: Mapping[str, Any], *, now: float) -> list[JID]:
        """Take over the accounts of another router's :meth:`snapshot`, sessions and all.

        The router carries on for them exactly where the snapshot was taken (a cluster
        moving accounts between processes). Returns the adopted accounts. Raises
        :class:`SnapshotError`, changing nothing, for a bad snapshot or an account this
        router already holds.
        """
        core = self._core
        clock = self._now, core.now
        self._advance_clock(now)  # the adopted accounts' autojoins queue from now
        try:
            return adopt_into(core, snapshot)
        except SnapshotError:
            self._now, core.now = clock
            raise

    def forget(self, accounts: Iterable[JID]) -> None:
        """Drop everything about ``accounts`` without telling any room (they moved away).

        Their rooms still count them as occupants: the router that adopted them speaks for
        them now. To leave the rooms instead, use :meth:`shutdown`.
        """
        core = self._core
        for jid in accounts:
            account = core.table.remove(jid)
            if account is None:
                continue
            for room in account.rooms:
                for kind in ROOM_TIMERS:
                    core.timers.cancel((kind, jid, room))
            core.timers.cancel(keepalive_timer(jid))
            core.timers.cancel(("forget", jid, jid))
            for iq_id in account.pending_iqs:
                core.timers.cancel(("iq", jid, iq_id))
            core.autojoins.forget(jid)

    @classmethod
    def restore(
        cls,
        snapshot: Mapping[str, Any],
        *,
        now: float,
        config: Config | None = None,
        sessions: bool = False,
    ) -> Router:
        """A router rebuilt from :meth:`snapshot`; execute what its timers return.

        ``sessions=False`` (a process restart): the sessions are gone. Each room an
        autojoin bookmark keeps is rejoined, asking for the history since the last
        message seen; every other room is left, since it still counts the account as an
        occupant. Both are spread out per MUC service, one per ``Config.autojoin_interval``
        (or the service's own in ``Config.autojoin_intervals``), starting at
        :meth:`next_deadline`; a service that took a join just before the snapshot takes
        the next one no sooner than its interval allows. Devices that come back get what
        they missed.

        ``sessions=True``: the sessions are still connected (the accounts moved to this
        process): the router carries on exactly where the snapshot was taken.

        Raises :class:`SnapshotError` for anything that is not a snapshot this version reads
        (format versions 1 to 5) or is damaged: a field of another type than the snapshot
        writes (``true`` or ``2.5`` for a whole number, ``0`` or ``"false"`` for a flag, a
        NaN, infinite or negative time, a number for a string), a room waiting with no
        deadline, a deadline for nothing in flight. Its message names the account, the
        room or the timer damaged, as ``"alice@example.org: lounge@muc.example.net: not a
        whole number: '209'"``. It raises :class:`LocalProtocolError` for a ``now`` that
        :meth:`handle` would refuse.
        """
        router = cls(config)
        router._check_clock(now)
        router._core = load_core(snapshot, router._config, now, sessions=sessions)
        router._now = router._core.now
        return router

    def occupancy(self, account: JID, room: JID) -> OccupancyView | None:
        """What the router holds for ``account`` (bare JID) in ``room`` (bare JID), read-only.

        ``None`` when the account is not in the room and not trying to be. The view is a
        copy taken now: it does not change when the router does.
        """
        holder = self._core.table.accounts.get(account)
        occupancy = None if holder is None else holder.rooms.get(room)
        return None if occupancy is None else view_of(self._core, account, occupancy)

    def _advance_clock(self, now: float) -> None:
        self._check_clock(now)
        self._now = self._core.now = now

    def _check_clock(self, now: float) -> None:
        if (
            not isinstance(now, (int, float))
            or isinstance(now, bool)
            or not 0.0 <= now <= LATEST  # also refuses NaN and infinities
        ):
            raise LocalProtocolError(
                f"now must be POSIX seconds from 0 to {LATEST:.0f} (year 9999), not {now!r}"
            )
        if now < self._now:
            raise LocalProtocolError(f"time went back from {self._now} to {now}")
