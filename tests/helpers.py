"""Test harness: build stanzas from XML text, drive a Router, read its table."""

from __future__ import annotations

import hashlib
import json
import textwrap
from typing import Any

from minimix_core import (
    JID,
    Action,
    Archive,
    Bookmark,
    BookmarksChanged,
    Config,
    Deliver,
    FromSession,
    Router,
    Send,
    SessionClosed,
    Stanza,
    ToAccount,
    parse_stanza,
)

ALICE = JID.parse("alice@example.org")
PHONE = JID.parse("alice@example.org/phone")
LAPTOP = JID.parse("alice@example.org/laptop")
TABLET = JID.parse("alice@example.org/tablet")
ROOM = JID.parse("lounge@muc.example.net")
OTHER_ROOM = JID.parse("garden@muc.example.net")

MUC_X = "<x xmlns='http://jabber.org/protocol/muc'/>"
USER_NS = "http://jabber.org/protocol/muc#user"


def x(text: str) -> Stanza:
    """A stanza from (possibly indented, pretty-printed) XML text."""
    return parse_stanza(textwrap.dedent(text).strip())


def join(nick: str = "alice", jid: str | None = "j1", room: JID = ROOM, inner: str = "") -> Stanza:
    """A session's MUC join presence."""
    id_attr = f" id='{jid}'" if jid is not None else ""
    muc = f"<x xmlns='http://jabber.org/protocol/muc'>{inner}</x>" if inner else MUC_X
    return x(f"<presence to='{room}/{nick}'{id_attr}>{muc}</presence>")


def occupant(
    nick: str,
    *,
    role: str = "participant",
    affiliation: str = "none",
    room: JID = ROOM,
    to: JID = ALICE,
    unavailable: bool = False,
    codes: tuple[int, ...] = (),
) -> Stanza:
    """A presence the room sends about an occupant."""
    kind = " type='unavailable'" if unavailable else ""
    statuses = "".join(f"<status code='{c}'/>" for c in codes)
    return x(
        f"<presence from='{room}/{nick}' to='{to}'{kind}><x xmlns='{USER_NS}'>"
        f"<item affiliation='{affiliation}' role='{role}'/>{statuses}</x></presence>"
    )


def self_presence(
    nick: str = "alice",
    *,
    codes: tuple[int, ...] = (110,),
    role: str = "participant",
    affiliation: str = "member",
    room: JID = ROOM,
    pid: str | None = None,
) -> Stanza:
    """The room's self-presence to the account."""
    id_attr = f" id='{pid}'" if pid is not None else ""
    statuses = "".join(f"<status code='{c}'/>" for c in codes)
    return x(
        f"<presence from='{room}/{nick}' to='{ALICE}'{id_attr}>"
        f"<x xmlns='{USER_NS}'><item affiliation='{affiliation}' role='{role}'/>"
        f"{statuses}</x></presence>"
    )


def subject(text: str = "Welcome", room: JID = ROOM) -> Stanza:
    """The room's subject message to the account."""
    return x(
        f"<message type='groupchat' from='{room}' to='{ALICE}'><subject>{text}</subject></message>"
    )


def leave(jid: str = "bye", room: JID = ROOM) -> Stanza:
    """A session's unavailable to the room (§7.14)."""
    return x(f"<presence to='{room}/alice' type='unavailable' id='{jid}'/>")


def left(jid: str = "bye", room: JID = ROOM) -> Stanza:
    """The room's answer to the account's leave: its own unavailable, with 110."""
    return x(
        f"<presence type='unavailable' from='{room}/alice' to='{ALICE}' id='{jid}'>"
        f"<x xmlns='{USER_NS}'><item affiliation='member' role='none'/>"
        "<status code='110'/></x></presence>"
    )


def groupchat(
    body: str, nick: str = "bob", mid: str = "m1", room: JID = ROOM, stamp: str | None = None
) -> Stanza:
    """A groupchat message from the room to the account; ``stamp``: as its history sends it."""
    delay = (
        "" if stamp is None else f"<delay xmlns='urn:xmpp:delay' from='{room}' stamp='{stamp}'/>"
    )
    return x(
        f"<message type='groupchat' from='{room}/{nick}' to='{ALICE}' id='{mid}'>"
        f"<body>{body}</body>{delay}</message>"
    )


THIRD_ROOM = JID.parse("third@muc.example.net")


class Harness:
    """A router and a clock; each call returns the actions of one event."""

    def __init__(self, router: Router | None = None) -> None:
        self.router = router if router is not None else Router()
        self.now = 0.0

    def session(self, session: JID, stanza: Stanza) -> list[Action]:
        """A local session sends ``stanza``."""
        return self.router.handle(FromSession(session=session, stanza=stanza), now=self.now)

    def room(self, stanza: Stanza) -> list[Action]:
        """The network delivers ``stanza`` to the account's bare JID."""
        return self.router.handle(ToAccount(stanza=stanza), now=self.now)

    def timer(self, at: float) -> list[Action]:
        """The clock moves to ``at`` and the host runs the router's timers."""
        self.now = at
        return self.router.handle_timer(at)

    def closed(self, session: JID) -> list[Action]:
        """A session ends for good."""
        return self.router.handle(SessionClosed(session=session), now=self.now)

    def joined(
        self,
        *sessions: JID,
        others: tuple[str, ...] = ("bob",),
        subject_text: str | None = "Welcome",
        room: JID = ROOM,
    ) -> None:
        """Bring the account into ``room`` with the first session; attach the rest late."""
        first, *later = sessions or (PHONE,)
        self.session(first, join(room=room))
        for nick in others:
            self.room(occupant(nick, room=room))
        self.room(self_presence(room=room))
        if subject_text is not None:
            self.room(subject(subject_text, room=room))
        for index, session in enumerate(later, start=2):
            self.session(session, join(jid=f"j{index}", room=room))


def bodies(actions: list[Action]) -> list[str]:
    """The body texts of the messages delivered by ``actions``, in order."""
    out = []
    for action in actions:
        body = action.stanza.find("body") if isinstance(action, Deliver) else None
        if body is not None:
            out.append(body.text or "")
    return out


def archived(stanza: Stanza) -> Archive:
    """The archive action for a room message to the account."""
    return Archive(account=ALICE, stanza=stanza)


def delivered(actions: list[Action], session: JID) -> list[Stanza]:
    """The stanzas delivered to one session, in order."""
    return [a.stanza for a in actions if isinstance(a, Deliver) and a.session == session]


def dump(router: Router) -> object:
    """Everything the router holds, as its snapshot shows it: compare before and after."""
    return router.snapshot()


def forgotten(h: Harness) -> bool:
    """The router holds nothing for alice once her memory of the rooms expires.

    An idle account keeps what it remembers of its rooms (archived messages, device
    positions) for ``Config.device_memory`` seconds; after that nothing is left.
    """
    account = h.router._core.table.accounts.get(ALICE)
    if account is not None:
        assert account.idle
        h.router.handle_timer(h.now + h.router.config.device_memory)
    return h.router._core.table.accounts == {}


def bookmark_lounge(h: Harness) -> None:
    """Alice's bookmarks become one: the lounge, autojoin (XEP-0402), given at ``h.now``."""
    h.router.handle(
        BookmarksChanged(account=ALICE, bookmarks=(Bookmark(room=ROOM, autojoin=True),)), now=h.now
    )


def waiting_while_its_memory_goes() -> Harness:
    """The phone waits to get back into the lounge while the account's memory of it goes.

    ``max_rooms_per_account=2``: the phone had ``r0`` (its place: 1) and left, the laptop
    had ``g0`` in the garden and left; the phone joins again and waits for the room's
    answer; the tablet's ``t0`` in a third room pushes the lounge's memory out.
    """
    h = Harness(Router(Config(max_rooms_per_account=2)))
    for session, room, text, mid in (
        (PHONE, ROOM, "lounge", "r0"),
        (LAPTOP, OTHER_ROOM, "garden", "g0"),
    ):
        h.joined(session, room=room)
        h.room(groupchat(text, mid=mid, room=room))
        h.session(session, leave(room=room))
        h.room(left(room=room))
    [rejoin] = h.session(PHONE, join(jid="again"))
    assert isinstance(rejoin, Send)  # the phone waits, its place with it
    h.joined(TABLET, room=THIRD_ROOM)
    h.room(groupchat("third", mid="t0", room=THIRD_ROOM))
    return h


def names_inline(snapshot: dict[str, Any], version: int = 4) -> dict[str, Any]:
    """``snapshot`` as ``version`` (4 or before) wrote it: each tag and attribute name
    where it stands, with no table of names."""
    names = snapshot["names"]

    def attributes(attrs: list[Any]) -> list[Any]:
        return [[names[name], value] for name, value in attrs]

    def element(data: list[Any]) -> list[Any]:
        out = [names[data[0]], *data[1:]]
        if len(out) > 1:
            out[1] = attributes(out[1])
        if len(out) > 2:
            out[2] = [element(child) for child in out[2]]
        return out

    payloads = [
        [[element(e) for e in children], *(attributes(a) for a in more)]
        for children, *more in snapshot["payloads"]
    ]
    written = {k: v for k, v in snapshot.items() if k != "names"}
    return {**written, "version": version, "payloads": payloads}


def hashed_as_version_2(snapshot: dict[str, Any], sids: set[str]) -> tuple[dict[str, Any], int]:
    """``snapshot`` as version 2 wrote it: every message key a hash of the stanza-id."""

    def old(value: Any) -> Any:
        if isinstance(value, str) and value in sids:
            changed[0] += 1
            return hashlib.blake2b(f"s\0{value}".encode(), digest_size=8).hexdigest()
        if isinstance(value, list):
            return [old(v) for v in value]
        if isinstance(value, dict):
            return {k: old(v) for k, v in value.items()}
        return value

    changed = [0]
    # The stanzas' payloads (where the ids are attributes) are kept apart from the accounts.
    accounts = old(json.loads(json.dumps(snapshot["accounts"])))
    return {**names_inline(snapshot, 2), "accounts": accounts}, changed[0]
