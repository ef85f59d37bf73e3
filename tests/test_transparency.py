"""Transparency: a session cannot tell joining through the router from joining the room.

Two worlds run the same random story against the simulated XEP-0045 service. In the
*direct* world every session joins the room itself (the room merges an account's sessions
into one multi-session occupant, as Prosody does). In the *router* world the sessions go
through a :class:`Router` and only the accounts join. After every step each session's
view — whether it is in the room, under which nick, whom it sees there, the subject, and
every message it received, in order — must be the same in both worlds. Invariants of the
router are checked after every step too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from minimix_core import (
    JID,
    Action,
    Config,
    Continue,
    Deliver,
    Discard,
    Event,
    FromSession,
    Router,
    Send,
    SessionClosed,
    Stanza,
    ToAccount,
    parse_stanza,
)
from minimix_core.testing import MUCService

ACCOUNTS = [JID.parse("alice@example.org"), JID.parse("dave@example.org")]
SESSIONS = [account.with_resource(r) for account in ACCOUNTS for r in ("phone", "laptop")]
CAROL = JID.parse("carol@example.net/pc")
ROOM_NAMES = ["lounge", "garden"]
GRACE = 120.0
"""Config.disconnect_grace: a closed session's account stays this long; the story waits it out."""
USER = "http://jabber.org/protocol/muc#user"


@dataclass
class View:
    """What one session knows about one room, built only from what it received."""

    inside: bool = False
    nick: str | None = None
    others: set[str] = field(default_factory=set)
    subject: str | None = None
    messages: list[tuple[str, str]] = field(default_factory=list)
    private: list[tuple[str, str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    """Stanza-ids already in the log: clients drop history they already have (XEP-0359)."""
    codes: list[tuple[str | None, frozenset[str]]] = field(default_factory=list)
    """The status codes of the self-presence that let the session in, and of the one that
    took it out, with its type (XEP-0045 §7.2.2, §7.14, §8, §9, §10.9)."""
    errors: list[tuple[str, str | None]] = field(default_factory=list)
    """Every error the session got: kind and condition (RFC 6120 §8.3)."""

    def see(self, stanza: Stanza) -> None:
        sender = stanza.from_
        assert sender is not None
        nick = sender.resource
        if stanza.kind == "presence":
            self._presence(stanza, nick)
        elif stanza.type == "error":
            self.errors.append((stanza.kind, _condition(stanza)))
        elif stanza.kind == "message" and stanza.type == "chat":
            body = stanza.find("body")
            self.private.append((nick or "", "" if body is None else body.text or ""))
        elif stanza.kind == "message" and stanza.type == "groupchat":
            body, subject = stanza.find("body"), stanza.find("subject")
            if body is not None:
                sid = stanza.find("{urn:xmpp:sid:0}stanza-id")
                key = None if sid is None else sid.get("id")
                if key is None or key not in self.seen:
                    self.messages.append((nick or "", body.text or ""))
                if key is not None:
                    self.seen.add(key)
            elif subject is not None:
                self.subject = subject.text or ""

    def _presence(self, stanza: Stanza, nick: str | None) -> None:
        x = stanza.find(f"{{{USER}}}x")
        codes = set() if x is None else {s.get("code") for s in x.findall(f"{{{USER}}}status")}
        item = None if x is None else x.find(f"{{{USER}}}item")
        is_self = "110" in codes or (nick is not None and nick == self.nick)
        # The codes that say how the session came in or went out (a presence update from
        # another session of the same occupant is not one: the router sends none).
        if is_self and (stanza.type == "unavailable" or not self.inside):
            self.codes.append((stanza.type, frozenset(c for c in codes if c is not None)))
        if stanza.type == "error":
            self.errors.append(("presence", _condition(stanza)))
            # a refused join leaves it out; a refused nick change leaves it in

        elif stanza.type == "unavailable":
            if "303" in codes and item is not None:
                new = item.get("nick")
                if is_self:
                    self.nick = new
                else:
                    self.others.discard(nick or "")
                    self.others.add(new or "")
            elif is_self:
                self.inside = False
                self.others.clear()
            else:
                self.others.discard(nick or "")
        elif is_self:
            self.inside = True
            self.nick = nick
        elif nick is not None:
            self.others.add(nick)

    def summary(self) -> tuple[object, ...]:
        others = frozenset(self.others - {self.nick or ""}) if self.inside else frozenset()
        nick = self.nick if self.inside else None
        return (
            self.inside,
            nick,
            others,
            self.subject,
            self.messages,
            self.private,
            self.codes,
            self.errors,
        )


def _condition(stanza: Stanza) -> str | None:
    error = stanza.find("error")
    if error is None:
        return None
    names = [c.name for c in error.children if c.name != "text"]
    return names[0] if names else None


class World:
    """One world: a service, the sessions' views, and (maybe) a router between them."""

    def __init__(self, router: Router | None) -> None:
        self.service = MUCService("muc.example.net")
        self.rooms = [
            self.service.create_room(name, subject=f"{name} topic") for name in ROOM_NAMES
        ]
        self.router = router
        self.views: dict[tuple[JID, JID], View] = {}
        self.now = 0.0
        self.gone: set[JID] = set()
        """Sessions closed: nothing reaches them until they send again."""

    def view(self, session: JID, room: JID) -> View:
        return self.views.setdefault((session, room), View())

    def to_service(self, stanza: Stanza) -> None:
        for out in self.service.receive(stanza, now=self.now):
            self.arrive(out)

    def arrive(self, stanza: Stanza) -> None:
        to = stanza.to
        assert to is not None and stanza.from_ is not None
        if self.router is not None and to.is_bare:
            self.execute(
                ToAccount(stanza=stanza), self.router.handle(ToAccount(stanza=stanza), now=self.now)
            )
        elif to != CAROL and to not in self.gone:
            self.view(to, stanza.from_.bare).see(stanza)

    def execute(self, event: Event, actions: list[Action]) -> None:
        check_fates(event, actions)
        for action in actions:
            if isinstance(action, Send):
                assert action.stanza.type != "error", "an error from the account gets it kicked"
                self.to_service(action.stanza)
            elif isinstance(action, Deliver):
                assert action.stanza.to == action.session
                self.view(action.session, room_of(action.stanza)).see(action.stanza)
            elif isinstance(action, Continue) and isinstance(event, FromSession):
                self.to_service(action.stanza.with_from(event.session))

    def session_sends(self, session: JID, stanza: Stanza) -> None:
        self.gone.discard(session)
        if self.router is None:
            self.to_service(stanza.with_from(session))
        else:
            event = FromSession(session=session, stanza=stanza)
            self.execute(event, self.router.handle(event, now=self.now))

    def timers(self) -> None:
        router = self.router
        assert router is not None
        deadline = router.next_deadline()
        while deadline is not None and deadline <= self.now:
            for action in router.handle_timer(self.now):
                if isinstance(action, Send):
                    self.to_service(action.stanza)
                elif isinstance(action, Deliver):
                    self.view(action.session, room_of(action.stanza)).see(action.stanza)
            deadline = router.next_deadline()

    def session_closes(self, session: JID, rooms: list[JID]) -> None:
        self.gone.add(session)
        if self.router is None:
            # The user's server leaves every room for a session that goes away.
            for room in rooms:
                unavailable = Stanza(
                    "presence", type="unavailable", from_=session, to=room.with_resource("x")
                )
                self.to_service(
                    unavailable.replace(to=room.with_resource(self.view(session, room).nick or "x"))
                )
        else:
            event = SessionClosed(session=session)
            self.execute(event, self.router.handle(event, now=self.now))


def room_of(stanza: Stanza) -> JID:
    assert stanza.from_ is not None
    return stanza.from_.bare


def check_fates(event: Event, actions: list[Action]) -> None:
    """Every stanza handed in has one explicit fate; no account's stanza reaches another."""
    if isinstance(event, (FromSession, ToAccount)) and not actions:
        # The one case with no action yet: a join waiting for the account's join answer.
        assert isinstance(event, FromSession)
        assert event.stanza.find("{http://jabber.org/protocol/muc}x") is not None
    originals = [a for a in actions if isinstance(a, (Continue, Discard))]
    assert len(originals) <= 1
    account = event.session.bare if isinstance(event, (FromSession, SessionClosed)) else None
    if isinstance(event, ToAccount):
        assert event.stanza.to is not None
        account = event.stanza.to.bare
    for action in actions:
        if isinstance(action, Deliver):
            assert action.session.bare == account
        if isinstance(action, Send):
            assert action.stanza.from_ == account


class Transparency(RuleBasedStateMachine):
    """The same story in both worlds; the views must agree after every step."""

    def __init__(self) -> None:
        super().__init__()
        config = Config(disconnect_grace=GRACE, archive=True, default_history_messages=20)
        self.direct = World(None)
        self.routed = World(Router(config))
        self.inside: dict[JID, set[JID]] = {s: set() for s in SESSIONS}
        self.counter = 0
        for world in (self.direct, self.routed):
            for room in world.rooms:
                world.to_service(
                    parse_stanza(
                        f"<presence from='{CAROL}' to='{room}/carol'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
                    )
                )

    def both(self, action: str, *args: object) -> None:
        for world in (self.direct, self.routed):
            getattr(world, action)(*args)

    def _id(self) -> str:
        self.counter += 1
        return f"s{self.counter}"

    @rule(session=st.sampled_from(SESSIONS), room=st.integers(0, 1))
    def join(self, session: JID, room: int) -> None:
        jid = self.direct.rooms[room]
        # A device joins under the nick its account has there: joining under another one,
        # a direct join makes a second occupant while the router keeps one (documented).
        nick = self._account_nick(session, jid) or session.local or ""
        stanza = parse_stanza(
            f"<presence to='{jid}/{nick}' id='{self._id()}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        )
        self.both("session_sends", session, stanza)
        self.inside[session].add(jid)

    @precondition(lambda self: any(self.inside.values()))
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        session = data.draw(st.sampled_from([s for s in SESSIONS if self.inside[s]]))
        room = data.draw(st.sampled_from(sorted(self.inside[session], key=str)))
        nick = self.direct.view(session, room).nick
        stanza = parse_stanza(
            f"<presence to='{room}/{nick}' type='unavailable' id='{self._id()}'/>"
        )
        self.both("session_sends", session, stanza)
        self.inside[session].discard(room)

    @precondition(lambda self: any(self.inside.values()))
    @rule(data=st.data(), text=st.sampled_from(["hi", "hello", "ok", "bye"]))
    def say(self, data: st.DataObject, text: str) -> None:
        session = data.draw(st.sampled_from([s for s in SESSIONS if self.inside[s]]))
        room = data.draw(st.sampled_from(sorted(self.inside[session], key=str)))
        stanza = parse_stanza(
            f"<message to='{room}' type='groupchat' id='{self._id()}'><body>{text}</body></message>"
        )
        self.both("session_sends", session, stanza)

    @rule(room=st.integers(0, 1), text=st.sampled_from(["news", "tea?"]))
    def carol_says(self, room: int, text: str) -> None:
        jid = self.direct.rooms[room]
        stanza = parse_stanza(
            f"<message from='{CAROL}' to='{jid}' type='groupchat' id='{self._id()}'><body>{text}</body></message>"
        )
        self.both("to_service", stanza)

    @rule(session=st.sampled_from(SESSIONS))
    def close(self, session: JID) -> None:
        rooms = sorted(self.inside[session], key=str)
        self.both("session_closes", session, rooms)
        # The disconnect grace passes with no device coming back: the account leaves.
        for world in (self.direct, self.routed):
            world.now += GRACE
        self.routed.timers()
        self.inside[session].clear()
        # A closed session is out of every room; the device keeps its message log.
        for world in (self.direct, self.routed):
            for room in world.rooms:
                view = world.view(session, room)
                view.inside, view.nick = False, None
                view.others.clear()

    @precondition(lambda self: any(self.inside.values()))
    @rule(data=st.data())
    def kick(self, data: st.DataObject) -> None:
        session = data.draw(st.sampled_from([s for s in SESSIONS if self.inside[s]]))
        room = data.draw(st.sampled_from(sorted(self.inside[session], key=str)))
        nick = self.direct.view(session, room).nick or ""
        for world in (self.direct, self.routed):
            for out in world.service.kick(room, nick, actor="carol", reason="test"):
                world.arrive(out)
        for other in SESSIONS:
            if other.bare == session.bare:
                self.inside[other].discard(room)

    def _account_nick(self, session: JID, room: JID) -> str | None:
        for other in SESSIONS:
            view = self.direct.view(other, room)
            if other.bare == session.bare and view.inside:
                return view.nick
        return None

    def _alone(self, session: JID, room: JID) -> bool:
        return not any(
            room in self.inside[other]
            for other in SESSIONS
            if other.bare == session.bare and other != session
        )

    @precondition(lambda self: any(self.inside.values()))
    @rule(data=st.data(), nick=st.sampled_from(["newnick", "carol", "other"]))
    def change_nick(self, data: st.DataObject, nick: str) -> None:
        """§7.6. Only for a session alone in the room: with several, a direct join splits
        the occupant in two while the router renames the account for all (documented)."""
        candidates = [
            (s, r) for s in SESSIONS for r in sorted(self.inside[s], key=str) if self._alone(s, r)
        ]
        if not candidates:
            return
        session, room = data.draw(st.sampled_from(candidates))
        new = f"{session.local}-{nick}" if nick != "carol" else nick
        self.both(
            "session_sends",
            session,
            parse_stanza(f"<presence to='{room}/{new}' id='{self._id()}'/>"),
        )

    @precondition(lambda self: any(self.inside.values()))
    @rule(data=st.data(), show=st.sampled_from(["away", "dnd", "chat"]))
    def presence_update(self, data: st.DataObject, show: str) -> None:
        session = data.draw(st.sampled_from([s for s in SESSIONS if self.inside[s]]))
        room = data.draw(st.sampled_from(sorted(self.inside[session], key=str)))
        nick = self.direct.view(session, room).nick
        stanza = parse_stanza(f"<presence to='{room}/{nick}'><show>{show}</show></presence>")
        self.both("session_sends", session, stanza)

    @rule(room=st.integers(0, 1), account=st.sampled_from(ACCOUNTS))
    def carol_whispers(self, room: int, account: JID) -> None:
        jid = self.direct.rooms[room]
        nick = next(
            (
                self.direct.view(s, jid).nick
                for s in SESSIONS
                if s.bare == account and self.direct.view(s, jid).inside
            ),
            account.local,
        )
        stanza = parse_stanza(
            f"<message from='{CAROL}' to='{jid}/{nick}' type='chat' id='{self._id()}'><body>psst</body></message>"
        )
        self.both("to_service", stanza)

    @rule(room=st.integers(0, 1))
    def destroy(self, room: int) -> None:
        jid = self.direct.rooms[room]
        for world in (self.direct, self.routed):
            for out in world.service.destroy(jid, reason="closing"):
                world.arrive(out)
            world.service.create_room(ROOM_NAMES[room], subject=f"{ROOM_NAMES[room]} topic")
            world.to_service(
                parse_stanza(
                    f"<presence from='{CAROL}' to='{jid}/carol'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
                )
            )
        for session in SESSIONS:
            self.inside[session].discard(jid)

    @invariant()
    def views_agree(self) -> None:
        for session in SESSIONS:
            for room in self.direct.rooms:
                direct = self.direct.view(session, room).summary()
                routed = self.routed.view(session, room).summary()
                assert routed == direct, (session, room)

    @invariant()
    def the_account_is_an_occupant_exactly_when_a_session_is_in(self) -> None:
        """Membership rule (no bookmarks, no grace): the account is in while a session is."""
        for room in self.routed.rooms:
            real = {jid for jids in self.routed.service.occupants(room).values() for jid in jids}
            for account in ACCOUNTS:
                wanted = any(room in self.inside[s] for s in SESSIONS if s.bare == account)
                assert (account in real) == wanted, (account, room)

    @invariant()
    def table_is_consistent(self) -> None:
        router = self.routed.router
        assert router is not None
        for account in router._core.table.accounts.values():
            for session, rooms in account.sessions.items():
                for room in rooms:
                    occ = account.rooms[room]
                    assert (
                        session in occ.attached or session in occ.pending or session in occ.leaving
                    )
            for room, occ in account.rooms.items():
                for group in (occ.attached, occ.pending, occ.leaving):
                    for session in group:
                        assert room in account.sessions[session]
                assert len(occ.attached) + len(occ.pending) <= router.config.max_sessions_per_room
                assert len(occ.view.occupants) <= router.config.max_occupants_per_room
            assert len(account.rooms) <= router.config.max_rooms_per_account


Transparency.TestCase.settings = settings(stateful_step_count=30, deadline=None)
TestTransparency = Transparency.TestCase
