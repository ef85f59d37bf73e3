"""One fault story: a router, the simulated service and a :class:`FaultyLink` between.

A story is a list of steps (:data:`KINDS`): sessions join, leave, talk and close, a remote
occupant talks, the room kicks, bans or restarts or forgets, the service stops answering
for a while, the router's process restarts (its sessions gone) or moves (its sessions
kept) through a snapshot, bookmarks change, time passes. Every step runs through the
faulty link on a simulated clock, the router's timers driven by
:meth:`Router.next_deadline`. After every step the invariants hold (no exception, every
stanza from the network gets an action, every waiting occupancy has a deadline, every
bound holds, no message is shown or archived twice); :meth:`Story.converge` then stops
the faults, lets every deadline pass and checks that each session's view agrees with
the room, and that no room holds an account that nothing wants there (a ghost). Where the
router passes a room's groupchat message on, the account's server bounces it (RFC 6121
§8.5.2.1.1), and the room drops the occupant that bounced it. A broken invariant raises
:class:`StoryFailure`, and :meth:`Story.script` writes the router's inputs as a replay
script (``docs/replay.md``): a bug report.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

import attrs

from .._actions import Archive, Continue, Deliver, Send
from .._config import Config
from .._events import Bookmark, BookmarksChanged, Event, FromSession, SessionClosed, ToAccount
from .._jid import JID
from .._lifecycle import WAITING
from .._muc import MUC_X
from .._replay import config_setting, restored
from .._router import Router
from .._stanza import CLIENT_NS, Element, Stanza
from .._xml import serialize
from ._faults import Faults, FaultyLink
from ._parts import error_reply
from ._service import MUCService
from ._views import SessionView, StoryFailure, expect, stanza_id
from ._views import codes as status_codes

__all__ = [
    "ACCOUNTS",
    "CONFIG",
    "KINDS",
    "OUTAGES",
    "ROOMS",
    "SESSIONS",
    "Op",
    "Story",
    "StoryFailure",
]

LOCAL: Final = "example.org"
ACCOUNTS: Final = (JID.parse("alice@example.org"), JID.parse("dave@example.org"))
SESSIONS: Final = (
    JID.parse("alice@example.org/phone"),
    JID.parse("alice@example.org/laptop"),
    JID.parse("dave@example.org/phone"),
)
ROOMS: Final = (JID.parse("lounge@muc.example.net"), JID.parse("garden@muc.example.net"))
"""The lounge is persistent, with a subject; the garden is temporary: emptied, it is gone."""
CAROL: Final = JID.parse("carol@example.net/pc")
"""A remote occupant of both rooms, on the service's side of the link (no faults)."""
WAITS: Final = (0.5, 2.0, 5.0, 11.0, 31.0, 75.0)
"""The seconds a ``wait`` step may let pass: around each of the config's timeouts."""
OUTAGES: Final = (20.0, 45.0, 90.0)
"""The seconds an ``outage`` step lasts: a join's deadline, every rejoin of a room, and
a keep-alive's idle time with its ping's deadline and every rejoin after it."""
HORIZON: Final = 700.0
"""Seconds after the faults stop in which every deadline passes and the views settle."""
CONFIG: Final = Config(
    join_timeout=10.0,
    leave_timeout=10.0,
    nick_change_timeout=10.0,
    resync_timeout=10.0,
    iq_timeout=10.0,
    keepalive_idle=60.0,
    keepalive_timeout=10.0,
    rejoin_delay=2.0,
    rejoin_max_delay=16.0,
    max_rejoin_attempts=3,
    disconnect_grace=0.0,
    max_history_messages=5,  # less than the room's 20: the bound is reached
    max_history_bytes=4000,
)
KINDS: Final = (
    "join",
    "leave",
    "close",
    "say",
    "carol-says",
    "carol-join",
    "kick",
    "restart",
    "forget",
    "ban",
    "outage",
    "reboot",
    "move",
    "bookmark",
    "unbookmark",
    "wait",
)
"""Step kinds. A step is ``(kind, a, b)``: ``a`` picks a session or account, ``b`` a room
(``wait``: ``a`` picks from :data:`WAITS`, ``outage``: from :data:`OUTAGES`); ``ban`` bans
the account from the room, or lifts its ban; ``reboot`` and ``move`` restore the router from
its snapshot (``restore`` in a replay script); steps that make no sense now do nothing."""

Op = tuple[str, int, int]

_USER: Final = "http://jabber.org/protocol/muc#user"
_SID: Final = "{urn:xmpp:sid:0}stanza-id"
_BODY: Final = f"{{{CLIENT_NS}}}body"
_STEP_LIMIT: Final = 20_000
_SPIN_LIMIT: Final = 50


class Story:
    """One seeded story: the service, the link, the router, and what each session saw."""

    def __init__(
        self,
        seed: int,
        faults: Faults | None = None,
        config: Config = CONFIG,
    ) -> None:
        self.seed = seed
        self.now = 0.0
        self.config = config
        self.service = MUCService("muc.example.net")
        self.service.create_room("lounge", persistent=True, subject="Lounge talk")
        self.service.create_room("garden")
        self.faults = faults
        self.link = FaultyLink(self.service, seed=seed, local_domain=LOCAL, faults=faults)
        self.router = Router(config)
        self.views: dict[tuple[JID, JID], SessionView] = {}
        self.wanted: set[tuple[JID, JID]] = set()
        self.bookmarks: dict[JID, set[JID]] = {account: set() for account in ACCOUNTS}
        self.archived: dict[JID, set[str]] = {account: set() for account in ACCOUNTS}
        self.log: list[tuple[float, Event | str | None]] = []
        """What the router was given: an event, a restore (its replay entry), or ``None``
        for its timers."""
        self.ops: list[Op] = []
        self.sent: dict[JID, set[str]] = {session: set() for session in SESSIONS}
        """The ids of what each session sent: an answer to its own leave is not news."""
        self.awaiting: set[tuple[JID, JID]] = set()
        """Sessions whose latest join is not answered yet."""
        self.unsure: set[tuple[JID, JID]] = set()
        """Sessions told they are out while their own join was in flight: in or out is right."""
        self.joins: dict[tuple[JID, JID], str] = {}
        """The id of each session's latest join: an error with it is the refusal."""
        self._ids = 0
        self.calm_at: float | None = None
        """When the faults stopped (:meth:`converge`): from then on a false belief is timed."""
        self.believed: dict[tuple[JID, JID], float] = {}
        """Since when each session has believed, falsely, that it is in a room."""
        for room in ROOMS:
            self._carol_join(room)

    # -- the steps ------------------------------------------------------------------------

    def apply(self, op: Op) -> None:
        """Run one step, then everything due now; then check the invariants."""
        self.ops.append(op)
        kind, a, b = op
        session, account, room = SESSIONS[a % 3], ACCOUNTS[a % 2], ROOMS[b % 2]
        if kind == "join":
            self._join(session, room)
        elif kind == "leave":
            self._leave(session, room)
        elif kind == "close":
            self._close(session)
        elif kind == "say":
            self._say(session, room)
        elif kind == "carol-says":
            self._carol_says(room, "news")
        elif kind == "carol-join":
            self._carol_join(room)
        elif kind == "kick":
            self._kick(account, room)
        elif kind in ("restart", "forget"):
            self.link.restart(room, now=self.now, silent=kind == "forget")
        elif kind == "ban":
            self._ban(account, room)
        elif kind == "outage":
            self.link.outage(until=self.now + OUTAGES[a % len(OUTAGES)])
        elif kind == "reboot":
            for gone in SESSIONS:
                self._forget_session(gone)
            self._restore("restore")
        elif kind == "move":
            self._restore("restore sessions")
        elif kind in ("bookmark", "unbookmark"):
            self._bookmark(account, room, on=kind == "bookmark")
        else:
            self.run_until(self.now + WAITS[a % len(WAITS)])
        self.run_until(self.now)
        self.check()

    def _id(self) -> str:
        self._ids += 1
        return f"c{self._ids}"

    def _sent(self, session: JID) -> str:
        """A new id for a stanza ``session`` sends."""
        stanza_id = self._id()
        self.sent[session].add(stanza_id)
        return stanza_id

    def _join(self, session: JID, room: JID) -> None:
        if (session, room) in self.wanted:
            return
        self.wanted.add((session, room))
        self.awaiting.add((session, room))
        self.unsure.discard((session, room))
        self.joins[(session, room)] = self._sent(session)
        nick = session.local or "user"
        join = Stanza(
            "presence",
            to=room.with_resource(nick),
            id=self.joins[(session, room)],
            children=(Element(MUC_X),),
        )
        self._handle(FromSession(session=session, stanza=join))

    def _leave(self, session: JID, room: JID) -> None:
        if (session, room) not in self.wanted:
            return
        self.wanted.discard((session, room))
        self.unsure.discard((session, room))
        self.awaiting.discard((session, room))  # an answer to its join is no longer awaited
        nick = self.view(session, room).nick or session.local or "user"
        to = room.with_resource(nick)
        leave = Stanza("presence", type="unavailable", to=to, id=self._sent(session))
        self._handle(FromSession(session=session, stanza=leave))

    def _close(self, session: JID) -> None:
        self._forget_session(session)
        self._handle(SessionClosed(session=session))

    def _forget_session(self, session: JID) -> None:
        """The client of ``session`` is gone: it knows of no room any more."""
        self.wanted = {(s, r) for s, r in self.wanted if s != session}
        self.unsure = {(s, r) for s, r in self.unsure if s != session}
        self.awaiting = {(s, r) for s, r in self.awaiting if s != session}
        for (s, _), view in self.views.items():
            if s == session:
                view.inside, view.nick, view.stint = False, None, []
                view.others.clear()

    def _restore(self, entry: str) -> None:
        """The router from its snapshot: ``restore`` (a restart) or ``restore sessions``."""
        self.log.append((self.now, entry))
        try:
            self.router = restored(self.router, self.now, sessions=entry != "restore")
        except Exception as exc:
            raise StoryFailure(f"the restore raised {exc!r}") from exc

    def _say(self, session: JID, room: JID) -> None:
        if not self.view(session, room).inside:
            return
        body = Element(_BODY, text="hello")
        message = Stanza(
            "message", type="groupchat", to=room, id=self._sent(session), children=(body,)
        )
        self._handle(FromSession(session=session, stanza=message))

    def _carol_says(self, room: JID, text: str) -> None:
        body = Element(_BODY, text=text)
        message = Stanza(
            "message", type="groupchat", from_=CAROL, to=room, id=self._id(), children=(body,)
        )
        self.link.from_service(self.service.receive(message, now=self.now), now=self.now)

    def _carol_join(self, room: JID) -> None:
        join = Stanza(
            "presence", from_=CAROL, to=room.with_resource("carol"), children=(Element(MUC_X),)
        )
        self.link.from_service(self.service.receive(join, now=self.now), now=self.now)

    def _kick(self, account: JID, room: JID) -> None:
        if room not in self.service.rooms:
            return
        for nick, reals in self.service.occupants(room).items():
            if any(real.bare == account for real in reals):
                out = self.service.kick(room, nick, actor="carol", reason="chaos")
                self.link.from_service(out, now=self.now)
                return

    def _ban(self, account: JID, room: JID) -> None:
        if room not in self.service.rooms:
            return
        banned = self.service.affiliation(room, account) == "outcast"
        out = self.service.set_affiliation(room, account, "none" if banned else "outcast")
        self.link.from_service(out, now=self.now)

    def _bookmark(self, account: JID, room: JID, *, on: bool) -> None:
        rooms = self.bookmarks[account]
        if on:
            rooms.add(room)
        else:
            rooms.discard(room)
        marks = tuple(
            Bookmark(room=r, autojoin=True, nick=account.local) for r in sorted(rooms, key=str)
        )
        self._handle(BookmarksChanged(account=account, bookmarks=marks))

    def view(self, session: JID, room: JID) -> SessionView:
        """What ``session`` knows of ``room``."""
        return self.views.setdefault((session, room), SessionView())

    # -- time and the network -------------------------------------------------------------

    def run_until(self, until: float) -> None:
        """Deliver everything in flight and run every timer due up to ``until``, in order."""
        spins = 0
        for _ in range(_STEP_LIMIT):
            arrival = self.link.next_time()
            deadline = self.router.next_deadline()
            due = [t for t in (arrival, deadline) if t is not None and t <= until]
            if not due:
                self.now = max(self.now, until)
                return
            self.now = max(self.now, min(due))
            if deadline is not None and deadline <= self.now:
                self._timer()
                spins = spins + 1 if self.router.next_deadline() == deadline else 0
                expect(spins <= _SPIN_LIMIT, f"the timer at {deadline} spins: it never moves on")
                continue
            item = self.link.step()
            if item is not None:
                self._arrive(item[1])
        raise StoryFailure(f"no rest before {until}: the router's timers or traffic never end")

    def _arrive(self, stanza: Stanza) -> None:
        to, sender = stanza.to, stanza.from_
        assert to is not None and sender is not None
        if to.is_bare:
            self._handle(ToAccount(stanza=stanza))
        else:  # the answer to what a session sent past the router (Continue)
            self.view(to, sender.bare).see(stanza)

    def _handle(self, event: Event | None) -> None:
        self.log.append((self.now, event))
        try:
            if event is None:
                actions = self.router.handle_timer(self.now)
            else:
                actions = self.router.handle(event, now=self.now)
        except Exception as exc:
            raise StoryFailure(f"the router raised {exc!r}") from exc
        network = isinstance(event, ToAccount)
        expect(bool(actions) or not network, f"no action for a stanza from the network: {event}")
        for action in actions:
            if isinstance(action, Send):
                expect(action.stanza.type != "error", f"the account sent {action.stanza}")
                self.link.send(action.stanza, now=self.now)
            elif isinstance(action, Deliver):
                self._deliver(action.session, action.stanza)
            elif isinstance(action, Continue) and isinstance(event, FromSession):
                self.link.send(action.stanza.with_from(event.session), now=self.now)
            elif isinstance(action, Continue) and action.stanza.type == "groupchat":
                # The account's server: a groupchat message to a bare JID is no message for
                # any of its resources (RFC 6121 §8.5.2.1.1). The room drops whoever bounces.
                bounce = error_reply(action.stanza, "service-unavailable", "cancel")
                self.link.send(bounce, now=self.now)
            elif isinstance(action, Archive):
                key = stanza_id(action.stanza) or ""
                archived = self.archived[action.account]
                expect(key not in archived, f"message {key} archived twice for {action.account}")
                archived.add(key)
        if self.calm_at is not None:
            self._believes()

    def _timer(self) -> None:
        self._handle(None)

    def _deliver(self, session: JID, stanza: Stanza) -> None:
        sender = stanza.from_
        assert sender is not None
        expect(stanza.to == session, f"delivered to {session} but addressed to {stanza.to}")
        room = sender.bare
        pair = (session, room)
        view = self.view(session, room)
        view.see(stanza)
        mine = stanza.id in self.sent[session]
        codes = status_codes(stanza)
        if stanza.kind == "presence" and stanza.type is None and stanza.id == self.joins.get(pair):
            if pair in self.awaiting:
                # Its own join answered: a client is in the room now, whatever it was told
                # while the join was on its way (a removal of the occupancy before it).
                self.wanted.add(pair)
                self.unsure.discard(pair)
            self.awaiting.discard(pair)
        elif stanza.kind == "presence" and stanza.type == "unavailable" and "110" in codes:
            # Out, and not for its own leave. With a join of its own still unanswered, the
            # removal may be of the occupancy before it: either ending is right.
            if pair in self.awaiting and not mine:
                self.unsure.add(pair)
            if not mine:
                self.wanted.discard(pair)
        elif (
            stanza.kind == "presence"
            and stanza.type == "error"
            and stanza.id == self.joins.get(pair)
        ):
            # Its join refused (by the room, the network, or in time).
            self.awaiting.discard(pair)
            self.wanted.discard(pair)
            view.out()

    # -- the checks -----------------------------------------------------------------------

    def check(self) -> None:
        """Every waiting occupancy has a deadline; every bound holds; the rooms are counted."""
        config = self.config
        core = self.router._core
        for jid, account in core.table.accounts.items():
            expect(len(account.rooms) <= config.max_rooms_per_account, f"{jid}: too many rooms")
            expect(len(account.pending_iqs) <= config.max_pending_iqs, f"{jid}: too many IQs")
            for room, occupancy in account.rooms.items():
                seen = self.router.occupancy(jid, room)
                assert seen is not None
                where = f"{jid} in {room} ({seen.state.value})"
                expect(
                    seen.state not in WAITING
                    or seen.next_deadline is not None
                    or (jid, room) in core.autojoins,
                    f"{where}: waits with no deadline",
                )
                history = occupancy.view.history
                expect(
                    history is None
                    or (
                        len(history) <= config.max_history_messages
                        and history.size <= config.max_history_bytes
                    ),
                    f"{where}: the history is over its bounds",
                )
                expect(
                    len(occupancy.view.occupants) <= config.max_occupants_per_room
                    and len(occupancy.sent_ids or ()) <= config.max_tracked_ids
                    and len(occupancy.attached) + len(occupancy.pending)
                    <= config.max_sessions_per_room,
                    f"{where}: the occupancy is over its bounds",
                )
        counted = Counter(
            o.room_text for account in core.table.accounts.values() for o in account.rooms.values()
        )
        expect(core.table.occupied == counted, "the table's count of accounts per room is wrong")

    def converge(self) -> None:
        """Stop the faults, let every deadline pass; each session's view must match the room."""
        self.link.calm()
        self.calm_at = self.now
        self._believes()
        self.run_until(self.now + HORIZON)
        for room in ROOMS:
            if room not in self.service.rooms or "carol" not in self.service.occupants(room):
                self._carol_join(room)
        self.run_until(self.now + HORIZON)
        finals = {}
        for room in ROOMS:
            before = len(self.link.order.get(room, {}))
            self._carol_says(room, "final")
            finals[room] = list(self.link.order[room])[before]
        self.run_until(self.now + HORIZON)
        for session in SESSIONS:
            for room in ROOMS:
                self._agrees(session, room, finals[room])
        for room in ROOMS:
            self._no_ghost(room)

    def _agrees(self, session: JID, room: JID, final: str) -> None:
        view = self.view(session, room)
        pair = (session, room)
        wanted = view.inside if pair in self.unsure else pair in self.wanted
        where = f"{session} in {room}"
        expect(view.inside or not wanted, f"{where}: asked to join, never in nor told it is out")
        expect(wanted or not view.inside, f"{where}: told it is out, still believes it is in")
        if not view.inside:
            return
        occupants = self.service.occupants(room)  # the final message made the room again
        nick = view.nick or ""
        reals = occupants.get(nick, frozenset())
        expect(
            any(real.bare == session.bare for real in reals),
            f"{where}: believes it is {nick!r}, the room does not have it",
        )
        expect(final in view.stint, f"{where}: the last message never arrived")
        if (session.bare, room) in self.link.disturbed:
            return  # the room's own stream lost or reordered something: no more to expect
        others = set(occupants) - {nick}
        expect(view.others == others, f"{where}: sees {sorted(view.others)}, not {others}")
        subject = self.service.subject(room) or ""
        expect((view.subject or "") == subject, f"{where}: subject {view.subject!r}")
        order = self.link.order[room]
        places = [order[key] for key in view.stint]
        expect(places == sorted(places), f"{where}: messages out of the room's order")

    def believe_limit(self) -> float:
        """Seconds a session may believe it is in a room that does not have its account.

        Once the faults stopped: a keep-alive's silence and its ping's deadline, or a
        rejoin's deadline and its longest wait, and every room's autojoin turn.
        """
        config = self.config
        return (
            config.keepalive_idle
            + config.keepalive_timeout
            + config.join_timeout
            + config.rejoin_max_delay
            + len(ROOMS) * len(ACCOUNTS) * config.autojoin_interval
        )

    def _believes(self) -> None:
        """Time each false belief of being in a room; none may outlast :meth:`believe_limit`."""
        calm_at = self.calm_at
        assert calm_at is not None
        for pair, view in self.views.items():
            session, room = pair
            reals = self._reals(room, view.nick or "")
            if not view.inside or any(real.bare == session.bare for real in reals):
                self.believed.pop(pair, None)
                continue
            since = self.believed.setdefault(pair, max(self.now, calm_at))
            expect(
                self.now - since <= self.believe_limit(),
                f"{session} believed for {self.now - since:g} s that it is in {room}, which "
                "does not have it",
            )

    def _reals(self, room: JID, nick: str) -> frozenset[JID]:
        """The real JIDs of ``nick`` in ``room``: none when either is gone."""
        if room not in self.service.rooms:
            return frozenset()
        return self.service.occupants(room).get(nick, frozenset())

    def _no_ghost(self, room: JID) -> None:
        """The room holds no account that none of its sessions is in and no bookmark keeps."""
        for nick, reals in self.service.occupants(room).items():
            for account in {real.bare for real in reals} & set(ACCOUNTS):
                inside = any(self.view(s, room).inside for s in SESSIONS if s.bare == account)
                expect(
                    inside or room in self.bookmarks[account],
                    f"{account} in {room} as {nick!r}: a ghost, no session is in it and no "
                    "bookmark keeps it",
                )

    # -- the report -----------------------------------------------------------------------

    def script(self, failure: str = "") -> str:
        """The router's inputs so far as a replay script (``docs/replay.md``)."""
        defaults = attrs.asdict(Config())
        settings = [
            config_setting(name, value)
            for name, value in attrs.asdict(self.config).items()
            if value != defaults[name]
        ]
        lines = [
            f"# chaos story, seed {self.seed}: {failure or 'no failure'}",
            f"# steps: {' '.join(f'{k}:{a}:{b}' for k, a, b in self.ops)}",
            f"# faults: {self.faults}",
        ]
        if settings:
            lines += ["config " + " ".join(settings), ""]
        at = 0.0
        for now, event in self.log:
            if now != at:
                lines += [f"at {now!r}", ""]
                at = now
            lines += [*_entry(event), ""]
        return "\n".join(lines)


def _entry(event: Event | str | None) -> list[str]:
    if event is None:
        return ["timer"]
    if isinstance(event, str):
        return [event]
    if isinstance(event, FromSession):
        return [f"from-session {event.session}", serialize(event.stanza)]
    if isinstance(event, ToAccount):
        return ["to-account", serialize(event.stanza)]
    if isinstance(event, SessionClosed):
        return [f"session-closed {event.session}"]
    assert isinstance(event, BookmarksChanged)
    marks = [
        f"<conference xmlns='urn:xmpp:bookmarks:1' jid='{mark.room}' autojoin='true'>"
        f"<nick>{mark.nick}</nick></conference>"
        for mark in event.bookmarks
    ]
    return [f"bookmarks {event.account}", *marks]
