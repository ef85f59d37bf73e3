"""The hot path for an occupant's groupchat message acts exactly as the general path.

``room_message``, which ``Router.handle`` calls for an occupant's groupchat message to an
account in the room, does in one frame what ``to_account``, ``_message`` and ``_historic``
do for the common room message, and hands anything else to ``_historic``. Here every
fault story is played twice, through the router as it is and through one whose hot paths
are the general paths (``paths.py``), and each step's actions and the final snapshots must
be equal. The stories must take the hot path to its end and each of its ways back to the
general path.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, cast

import pytest

from helpers import (
    ALICE,
    LAPTOP,
    OTHER_ROOM,
    PHONE,
    ROOM,
    TABLET,
    THIRD_ROOM,
    USER_NS,
    groupchat,
    hashed_as_version_2,
    join,
    leave,
    left,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import (
    JID,
    Config,
    Element,
    LocalProtocolError,
    Router,
    SessionClosed,
    Stanza,
    ToAccount,
    serialize,
)
from minimix_core import _room_side as room_side
from minimix_core import _router as router_module
from minimix_core._history import key_of, scan_message
from minimix_core._table import Account, Occupancy
from minimix_core.testing._chaos import CONFIG
from paths import (
    Cases,
    Log,
    assert_every_way_taken,
    assert_same,
    built,
    restored,
    room,
    run,
    session,
    story_logs,
)

# Why a room message left the hot path, in the order the hot path asks.
REASONS = (
    "not historic",
    "delay",
    "foreign stanza-id",
    "no attached session",
    "nothing passed on yet",
    "no history yet",
    "no memory",
    "version 2 keys",
    "passed on before",
    "seen before",
)


def reason(account: Account, occupancy: Occupancy, stanza: Stanza) -> str:
    """Which way the hot path takes ``stanza``: ``"hot"``, or why it leaves."""
    room = occupancy.room
    historic, _, stanza_id, delay, _, foreign = scan_message(stanza, str(room))
    key = key_of(stanza, stanza_id)
    view = occupancy.view
    memory = account.memory.get(room)
    checks = (
        not historic,
        delay is not None,
        foreign,
        not occupancy.attached,
        view.passed is None,
        view.history is None,
        memory is None,
        memory is not None and bool(memory.legacy),
        view.passed is not None and key in view.passed,
        memory is not None and key in memory.seen,
    )
    return next((why for why, met in zip(REASONS, checks, strict=True) if met), "hot")


@contextmanager
def counting(ways: Counter[str]) -> Iterator[None]:
    """Count the way each room message takes through the hot path."""
    original = room_side.room_message

    def counted(
        core: Any, account: Account, occupancy: Occupancy, stanza: Stanza, nick: str
    ) -> Any:
        ways[reason(account, occupancy, stanza)] += 1
        return original(core, account, occupancy, stanza, nick)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(router_module, "room_message", counted)
        yield


def sid_message(body: str, sid: str, by: JID = ROOM, stamp: str | None = None) -> Stanza:
    delay = (
        "" if stamp is None else f"<delay xmlns='urn:xmpp:delay' from='{ROOM}' stamp='{stamp}'/>"
    )
    return x(
        f"<message type='groupchat' from='{ROOM}/bob' to='{ALICE}' id='{body}'>"
        f"<body>{body}</body><stanza-id xmlns='urn:xmpp:sid:0' by='{by}' id='{sid}'/>"
        f"{delay}</message>"
    )


IN_THE_ROOM: Log = [
    session(PHONE, join()),
    room(occupant("bob")),
    room(self_presence()),
    room(subject()),
]
ONE, TWO, THREE = sid_message("one", "s1"), sid_message("two", "s2"), sid_message("three", "s3")
CHAT_STATE = x(
    f"<message type='groupchat' from='{ROOM}/bob' to='{ALICE}'>"
    "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
)
TOPIC = x(
    f"<message type='groupchat' from='{ROOM}/bob' to='{ALICE}'><subject>New</subject></message>"
)
PRIVATE_1, PRIVATE_2 = (
    x(f"<message type='chat' from='{ROOM}/bob' to='{ALICE}' id='{mid}'><body>psst</body></message>")
    for mid in ("p1", "p2")
)
LEFT_AND_BACK: Log = [
    session(PHONE, leave()),
    room(left()),
    session(PHONE, join(jid="j2")),
    room(self_presence(pid="j2")),
    room(subject()),
]


def visit(device: JID, where: JID, mid: str) -> Log:
    """``device`` joins ``where``, gets message ``mid`` and leaves."""
    return [
        session(device, join(room=where, jid=f"{mid}-in")),
        room(self_presence(room=where, pid=f"{mid}-in")),
        room(subject(room=where)),
        room(groupchat(mid, mid=mid, room=where)),
        session(device, leave(room=where, jid=f"{mid}-out")),
        room(left(room=where, jid=f"{mid}-out")),
    ]


def without_history(snapshot: dict[str, Any]) -> dict[str, Any]:
    """``snapshot`` with the occupancy's history gone and its messages passed on kept."""
    rooms = snapshot["accounts"][0]["rooms"]
    rooms[0]["v"]["h"] = None
    return snapshot


CASES: Cases = {
    "a new message, then chat states and a subject set by an occupant": (
        Router,
        [*IN_THE_ROOM, room(ONE), room(TWO), room(CHAT_STATE), room(TOPIC), room(THREE)],
    ),
    "messages with a delay, one the room sends again and one new": (
        Router,
        [
            *IN_THE_ROOM,
            room(ONE),
            room(sid_message("one", "s1", stamp="1970-01-01T00:00:10Z"), at=60.0),
            room(sid_message("two", "s2", stamp="1970-01-01T00:00:20Z"), at=60.0),
        ],
    ),
    "a stanza-id by someone else than the room": (
        Router,
        [*IN_THE_ROOM, room(ONE), room(sid_message("two", "s2", by=ALICE)), room(THREE)],
    ),
    "a message sent twice": (Router, [*IN_THE_ROOM, room(ONE), room(TWO), room(TWO)]),
    "a message sent again after private ones pushed it out of the memory": (
        partial(Router, Config(max_remembered_messages=2)),
        [*IN_THE_ROOM, room(ONE), room(TWO), room(PRIVATE_1), room(PRIVATE_2), room(TWO)],
    ),
    "a message from an earlier stay, after the new one": (
        Router,
        [*IN_THE_ROOM, room(ONE), room(TWO), *LEFT_AND_BACK, room(THREE), room(ONE)],
    ),
    "a room whose memory was pushed out by others'": (
        partial(Router, Config(max_rooms_per_account=2)),
        [
            *IN_THE_ROOM,
            room(ONE),
            *visit(LAPTOP, OTHER_ROOM, "g0"),
            *visit(LAPTOP, THIRD_ROOM, "t0"),
            room(TWO),
            room(THREE),
        ],
    ),
    "a history that a snapshot left out": (
        restored(without_history(built([*IN_THE_ROOM, room(ONE)]))),
        [room(TWO), room(THREE)],
    ),
    "a memory restored from version 2, and a message it knows by its hash alone": (
        restored(
            hashed_as_version_2(
                built([*IN_THE_ROOM, room(ONE), room(TWO)], Config(max_history_messages=1)),
                {"s1", "s2"},
            )[0]
        ),
        [room(THREE), room(ONE)],
    ),
    "no device attached": (
        Router,
        [*IN_THE_ROOM, room(ONE), (0.0, SessionClosed(session=PHONE)), room(TWO)],
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_each_way_off_the_hot_path_acts_as_the_general_path(name: str) -> None:
    make, log = CASES[name]
    assert_same(log, make)


def test_the_fault_stories_act_on_the_hot_paths_as_on_the_general_paths() -> None:
    """Both hot paths: ``paths.general_path`` replaces the one for joins too."""
    for log in story_logs():
        assert_same(log, partial(Router, CONFIG))


def test_the_cases_and_the_fault_stories_take_the_hot_path_and_every_way_off_it() -> None:
    assert_every_way_taken(counting, CASES, REASONS)


def _message(
    body: str, extra: str = "", sender: str = f"{ROOM}/bob", to: str = f"{ALICE}"
) -> Stanza:
    return x(
        f"<message type='groupchat' from='{sender}' to='{to}'><body>{body}</body>{extra}</message>"
    )


def _sid(sid: str, by: str = str(ROOM)) -> str:
    return f"<stanza-id xmlns='urn:xmpp:sid:0' by='{by}' id='{sid}'/>"


def _restored_from(version: int, *, sessions: bool) -> Callable[[], Router]:
    snapshot = built([*IN_THE_ROOM, room(ONE), room(TWO)], Config(max_history_messages=1))
    if version == 2:
        snapshot = hashed_as_version_2(snapshot, {"s1", "s2"})[0]
    return lambda: Router.restore(json.loads(json.dumps(snapshot)), now=0.0, sessions=sessions)


def _memory_behind(snapshot: dict[str, Any]) -> dict[str, Any]:
    """``snapshot`` with the room's memory forgotten but its history kept: new messages are
    numbered below the history's (a snapshot a host wrote by hand, or damaged)."""
    memory = snapshot["accounts"][0]["memory"][0][1]
    memory["last"], memory["seen"] = 0, []
    return snapshot


def _adopted() -> Router:
    router = Router()
    router.adopt(json.loads(json.dumps(built([*IN_THE_ROOM, room(ONE), room(TWO)]))), now=0.0)
    return router


def _built(body: str, sid: str, *extra: Element) -> Stanza:
    """A room message built as a host might, not parsed: no element's size memo is set."""
    return Stanza(
        "message",
        type="groupchat",
        from_=ROOM.with_resource("bob"),
        to=ALICE,
        children=(
            Element("{jabber:client}body", text=body),
            Element("{urn:xmpp:sid:0}stanza-id", (("id", sid), ("by", str(ROOM)))),
            *extra,
        ),
    )


_BY_HAND = (
    ("h1", "h1", ()),
    ("h2", "h2", (Element("plain", (("a", "b"),), (Element("{urn:x:in}in", text="t"),)),)),
    ("h3", "h3", (Element("{}empty"), Element("{jabber:client}thread", text="th"))),
    ("h4", "h4", (Element("{urn:xmpp:hints}no-copy"),)),
    ("h2", "h2", (Element("plain", (("a", "b"),), (Element("{urn:x:in}in", text="t"),)),)),
    ("y" * 300, "h5", ()),
)
DAVE = JID.parse("dave@example.org")
_DAVE_IN: Log = [
    session(DAVE.with_resource("phone"), join(nick="dave", jid="d1")),
    room(self_presence(nick="dave", pid="d1")._replace(to=DAVE)),
    room(subject()._replace(to=DAVE)),
]
_HINTS = ("no-store", "store", "no-permanent-store", "no-copy")
_MEDIUM = x(
    f"<message type='groupchat' from='{ROOM}/bob' to='{ALICE}'><body>{'m' * 100}</body>"
    f"<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='mid'/></message>"
)
"""Over half the byte bound of the pool of one payload, within the whole of it."""
_OTHER_ONE = x(
    f"<message type='groupchat' from='{OTHER_ROOM}/bob' to='{ALICE}'><body>elsewhere</body>"
    f"<stanza-id xmlns='urn:xmpp:sid:0' by='{OTHER_ROOM}' id='s1'/></message>"
)
"""Another room's message under the key of ``ONE``."""
_BACK_AFTER_RESTORE: Log = [
    room(THREE),
    room(ONE),
    room(TWO),
    session(PHONE, join(jid="j9")),
    room(self_presence(pid="j9")),
    room(subject()),
    room(sid_message("four", "s4")),
    room(ONE),
]
MORE_CASES: Cases = {
    "addresses and a stanza-id's by in other spellings": (
        Router,
        [
            *IN_THE_ROOM,
            room(_message("a", _sid("s1"), sender="Lounge@MUC.Example.NET/bob")),
            room(_message("a", _sid("s1"))),
            room(_message("b", _sid("s2", by="Lounge@muc.example.net"))),
            room(_message("b", _sid("s2"))),
            room(_message("c", _sid("s3"), sender=f"{ROOM}/Bob", to="Alice@Example.org")),
        ],
    ),
    "stanza-ids longer than a key, shaped like a digest, two of them": (
        Router,
        [
            *IN_THE_ROOM,
            *(room(_message(body, _sid(sid))) for body, sid in (("a", "x" * 40),) * 2),
            *(room(_message(body, _sid(sid))) for body, sid in (("b", "0123456789abcdef"),) * 2),
            room(_message("c", _sid("s1") + _sid("s2"))),
            room(_message("c", _sid("s2") + _sid("s1"))),
            room(_message("d")),
            room(_message("d")),
        ],
    ),
    "a subject with a body, and hints": (
        Router,
        [
            *IN_THE_ROOM,
            room(_message("s", "<subject>t</subject>")),
            *(
                room(_message(hint, f"<{hint} xmlns='urn:xmpp:hints'/>"))
                for hint in _HINTS + _HINTS
            ),
        ],
    ),
    "a memory of one message": (
        partial(Router, Config(max_remembered_messages=1)),
        [*IN_THE_ROOM, room(ONE), room(TWO), room(ONE), room(TWO), room(TWO)],
    ),
    "a memory of one room": (
        partial(Router, Config(max_rooms_per_account=1)),
        [*IN_THE_ROOM, room(ONE), *visit(LAPTOP, OTHER_ROOM, "g0"), room(TWO), room(ONE)],
    ),
    "devices come and go between messages": (
        Router,
        [
            *IN_THE_ROOM,
            room(ONE),
            session(LAPTOP, join(jid="j2")),
            room(TWO),
            (0.0, SessionClosed(session=PHONE)),
            room(THREE),
            session(TABLET, join(jid="j3")),
            room(sid_message("four", "s4")),
            session(LAPTOP, leave()),
            room(sid_message("five", "s5")),
        ],
    ),
    "no archive": (
        partial(Router, Config(archive=False)),
        [*IN_THE_ROOM, room(ONE), room(TWO), room(ONE)],
    ),
    "a pool of one payload": (
        partial(
            Router,
            Config(max_shared_payloads=1, max_shared_messages=1, max_shared_payload_bytes=300),
        ),
        [
            *IN_THE_ROOM,
            *_DAVE_IN,
            *(
                room(message._replace(to=to))
                for message in (ONE, TWO, _message("y" * 500, _sid("big")), _MEDIUM, ONE)
                for to in (ALICE, DAVE)
            ),
        ],
    ),
    "two local accounts in two rooms whose stanza-ids are alike": (
        Router,
        [
            *IN_THE_ROOM,
            *_DAVE_IN,
            session(LAPTOP, join(room=OTHER_ROOM, jid="o1")),
            room(self_presence(room=OTHER_ROOM, pid="o1")),
            session(DAVE.with_resource("laptop"), join(nick="dave", room=OTHER_ROOM, jid="o2")),
            room(self_presence(nick="dave", room=OTHER_ROOM, pid="o2")._replace(to=DAVE)),
            *(
                room(message._replace(to=to))
                for message in (_OTHER_ONE, ONE, _OTHER_ONE, sid_message("again", "s1"))
                for to in (ALICE, DAVE)
            ),
        ],
    ),
    "a history bound in bytes": (
        partial(Router, Config(max_history_bytes=200, max_history_messages=2)),
        [
            *IN_THE_ROOM,
            room(ONE),
            room(_message("y" * 500, _sid("big"))),
            room(TWO),
            session(LAPTOP, join(jid="j2")),
            room(THREE),
        ],
    ),
    "a stanza-id with more attributes or no id, a thread, a storage hint alone": (
        Router,
        [
            *IN_THE_ROOM,
            room(
                _message(
                    "t",
                    f"<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='s1' extra='x'/>"
                    "<thread>th</thread>",
                )
            ),
            room(_message("u", f"<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}'/>" + _sid("s2"))),
            room(
                x(
                    f"<message type='groupchat' from='{ROOM}/bob' to='{ALICE}'>"
                    f"<store xmlns='urn:xmpp:hints'/>{_sid('s3')}</message>"
                )
            ),
            room(_message("v", _sid("s4") + "<fresh xmlns='urn:example:never-seen'/>")),
        ],
    ),
    "a message after another room's, whose memory is the newer": (
        Router,
        [*IN_THE_ROOM, room(ONE), *visit(LAPTOP, OTHER_ROOM, "g0"), room(TWO), room(THREE)],
    ),
    "a memory pushed out, then numbered anew on the hot path": (
        partial(Router, Config(max_rooms_per_account=2)),
        [
            *IN_THE_ROOM,
            room(ONE),
            room(TWO),
            *visit(LAPTOP, OTHER_ROOM, "g0"),
            *visit(LAPTOP, THIRD_ROOM, "t0"),
            room(THREE),
            room(sid_message("four", "s4")),
            room(sid_message("five", "s5")),
        ],
    ),
    "a history out of order, its messages pushed out on the hot path": (
        partial(Router, Config(max_history_messages=2)),
        [
            *IN_THE_ROOM,
            room(ONE),
            room(TWO),
            *LEFT_AND_BACK,
            room(THREE),
            room(ONE),
            room(sid_message("four", "s4")),
            room(sid_message("five", "s5")),
            room(sid_message("six", "s6")),
        ],
    ),
    "a snapshot whose memory numbers behind its history": (
        restored(_memory_behind(built([*IN_THE_ROOM, room(ONE), room(TWO)]))),
        [room(THREE), room(sid_message("four", "s4")), session(LAPTOP, join(jid="j2"))],
    ),
    **{
        f"live messages after a restore from version {version}, sessions {sessions}": (
            _restored_from(version, sessions=sessions),
            _BACK_AFTER_RESTORE,
        )
        for version in (2, 3)
        for sessions in (True, False)
    },
    "live messages to adopted accounts": (_adopted, _BACK_AFTER_RESTORE),
    "stanza-ids of 36 and 37 characters, an empty one, a by with a trailing dot": (
        Router,
        [
            *IN_THE_ROOM,
            room(ONE),
            *(room(_message(body, _sid(sid))) for body, sid in (("a", "a" * 36),) * 2),
            *(room(_message(body, _sid(sid))) for body, sid in (("b", "b" * 37),) * 2),
            *(room(_message(body, _sid(sid))) for body, sid in (("c", ""),) * 2),
            room(_message("d", _sid("s4", by=f"{ROOM}."))),
            room(_message("d", _sid("s4"))),
        ],
    ),
    "payloads built by hand: no sizes worked out, tags with no or an empty namespace": (
        partial(Router, Config(max_history_bytes=400)),
        [
            *IN_THE_ROOM,
            room(ONE),
            *(room(_built(body, sid, *extra)) for body, sid, extra in _BY_HAND),
            room(_built("a", "h1")),
        ],
    ),
    "two local accounts in the room: one payload for both, or not when one is told more": (
        Router,
        [
            *IN_THE_ROOM,
            *_DAVE_IN,
            room(ONE),
            room(ONE._replace(to=DAVE)),
            room(TWO._replace(to=DAVE)),
            room(TWO),
            room(THREE),
            room(THREE._replace(to=DAVE, children=(*THREE.children, Element("{urn:x:mod}real")))),
            room(_built("four", "s4")),
            room(_built("four", "s4")._replace(to=DAVE)),
        ],
    ),
}


@pytest.mark.parametrize("name", MORE_CASES)
def test_odd_messages_and_bounds_act_as_the_general_path(name: str) -> None:
    make, log = MORE_CASES[name]
    assert_same(log, make)


DOMAIN_ACCOUNT = JID.parse("example.org")


def _to_domain(text: str) -> Stanza:
    for quote in "'\"":
        text = text.replace(f"to={quote}{ALICE}{quote}", f"to={quote}{DOMAIN_ACCOUNT}{quote}")
    return x(text)


def test_an_account_without_a_localpart_acts_as_the_general_path() -> None:
    """RFC 7622 §3.1: a bare JID may be a domain alone; the hot path counts its address
    as _envelope does (the history's sizes are in the snapshot both paths are compared on)."""
    device = DOMAIN_ACCOUNT.with_resource("phone")
    stanzas = [
        _to_domain(
            f"<presence from='{ROOM}/alice' to='{ALICE}' id='j1'><x xmlns='{USER_NS}'>"
            "<item affiliation='member' role='participant'/><status code='110'/></x></presence>"
        ),
        _to_domain(f"<message type='groupchat' from='{ROOM}' to='{ALICE}'><subject/></message>"),
        *(
            _to_domain(serialize(sid_message(body, sid)))
            for body, sid in (("one", "s1"), ("two", "s2"))
        ),
    ]
    log: Log = [session(device, join()), *(room(stanza) for stanza in stanzas)]
    assert_same(log, Router)
    router = Router()
    run(log, router)
    history = router._core.table.accounts[DOMAIN_ACCOUNT].rooms[ROOM].view.history
    assert history is not None and len(history) == 2


def test_a_room_message_from_no_jid_is_host_misuse_on_either_path() -> None:
    """A ``from`` that is no JID is the host's bug: LocalProtocolError, nothing changed.

    The room is found by the sender's parts as a plain tuple: a string found no room and
    the room's message went on as the account's own (Continue); a plain tuple found the
    room and raised AttributeError from the middle of routing. ``sender.bare`` raised
    AttributeError for both, so the two lookups never answered alike.
    """
    router = run(IN_THE_ROOM, Router())[1]
    before = router.snapshot()
    for sender in (f"{ROOM}/bob", (ROOM.local, ROOM.domain, "bob")):
        for kind in ("groupchat", "chat"):
            stanza = ONE._replace(from_=cast(Any, sender), type=kind)
            for now in (0.0, 0):  # the fast path's checks and the full ones
                with pytest.raises(LocalProtocolError, match="from"):
                    router.handle(ToAccount(stanza=stanza), now=now)
                assert router.snapshot() == before
    assert [type(a).__name__ for a in router.handle(ToAccount(stanza=ONE), now=0.0)] == [
        "Archive",
        "Deliver",
    ]
