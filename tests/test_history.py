"""History for late joiners from the occupancy's buffer (XEP-0045 §7.2.13, §7.2.14)."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from helpers import (
    ALICE,
    LAPTOP,
    PHONE,
    ROOM,
    Harness,
    bodies,
    groupchat,
    join,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import JID, Config, Deliver, Element, Router, Stanza, parse_stanza, serialize
from minimix_core import _history as history_module
from minimix_core._history import (
    History,
    HistoryRequest,
    key_of,
    message_key,
    scan_message,
    version_2_key,
)
from minimix_core._muc import DELAY, STANZA_ID
from minimix_core._stanza import element_size

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
STAMP0 = "2027-01-15T08:00:00Z"


def joined_at(t: float, router: Router | None = None) -> Harness:
    h = Harness(router)
    h.now = t
    h.joined(PHONE, others=("bob",))
    return h


def delayed(body: str, mid: str, stamp: str) -> str:
    return (
        f"<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='{mid}'>"
        f"<body>{body}</body><delay xmlns='urn:xmpp:delay' from='lounge@muc.example.net' stamp='{stamp}'/></message>"
    )


def test_late_joiner_gets_history_between_self_presence_and_subject() -> None:
    """XEP-0045 §7.1, §7.2.13: history after 110, before the subject, one delay from the room."""
    h = joined_at(T0)
    h.room(groupchat("one", mid="m1"))
    h.now = T0 + 1.5
    h.room(groupchat("two", mid="m2"))
    actions = h.session(LAPTOP, join(jid="late"))
    assert actions == [
        Deliver(session=LAPTOP, stanza=occupant("bob", to=LAPTOP)),
        Deliver(session=LAPTOP, stanza=self_presence(pid="late").with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=x(delayed("one", "m1", STAMP0)).with_to(LAPTOP)),
        Deliver(
            session=LAPTOP,
            stanza=x(delayed("two", "m2", "2027-01-15T08:00:01.500Z")).with_to(LAPTOP),
        ),
        Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP)),
    ]


def test_history_the_room_sent_during_the_join_keeps_its_own_delay() -> None:
    """XEP-0045 §7.2.13: never a second delay; the room's stamp is the message's time."""
    h = Harness()
    h.now = T0
    h.session(PHONE, join())
    h.room(self_presence())
    old = x(delayed("from before", "h1", "2027-01-01T00:00:00Z"))
    h.room(old)
    h.room(subject())
    actions = h.session(LAPTOP, join(jid="late"))
    assert actions[1] == Deliver(session=LAPTOP, stanza=old.with_to(LAPTOP))


def late_joins(count: int) -> Callable[[str], list[str]]:
    """The bodies a late join's history brings, by what its MUC ``<x/>`` holds, in a room of
    ``count`` messages ``m0``... sent ten seconds apart from T0, 100 seconds on."""
    h = joined_at(T0)
    for n in range(count):
        h.now = T0 + 10 * n
        h.room(groupchat(f"m{n}", mid=f"m{n}"))
    h.now = T0 + 100
    return lambda inner: bodies(h.session(LAPTOP, join(jid="j", inner=inner)))


def test_history_request_limits_are_honoured() -> None:
    """XEP-0045 §7.2.14: maxstanzas, maxchars (0 = none), seconds, since; the smallest wins."""
    got = late_joins(5)
    assert got("<history maxstanzas='2'/>") == ["m3", "m4"]
    assert got("<history maxchars='0'/>") == []
    assert got("<history seconds='65'/>") == ["m4"]
    assert got("<history since='2027-01-15T08:00:15Z'/>") == ["m2", "m3", "m4"]
    assert got("<history since='2027-01-15T08:00:15'/>") == ["m2", "m3", "m4"]
    assert got("<history maxstanzas='3' seconds='75'/>") == ["m3", "m4"]
    assert got("<history maxchars='450'/>") == ["m3", "m4"]
    assert got("<history/>") == ["m0", "m1", "m2", "m3", "m4"]
    assert got("<history maxstanzas='x' since='yesterday'/>") == ["m0", "m1", "m2", "m3", "m4"]
    assert got("") == ["m0", "m1", "m2", "m3", "m4"]


def test_history_limits_beyond_any_history_limit_nothing_and_never_raise() -> None:
    """XEP-0045 §7.2.14 limits are integers of any length: one of thousands of digits
    (``int()`` refuses over 4,300) or of more seconds than a float holds under ``now``
    raised from ``Router.handle``; each limits nothing, as a limit of a million does.
    Leading zeros count for nothing."""
    got = late_joins(3)
    everything = ["m0", "m1", "m2"]
    for limit in ("maxstanzas", "maxchars", "seconds"):
        for huge in ("1" + "0" * 400, "1" * 5000, "9" * 15, "1" + "0" * 15):
            assert got(f"<history {limit}='{huge}'/>") == everything
    assert got(f"<history maxstanzas='{'0' * 5000}2'/>") == ["m1", "m2"]
    assert got(f"<history maxchars='{'0' * 20}'/>") == []


def test_default_history_is_the_configured_number() -> None:
    """A join asking for nothing specific gets Config.default_history_messages."""
    h = joined_at(T0, Router(Config(default_history_messages=1)))
    h.room(groupchat("a", mid="a"))
    h.room(groupchat("b", mid="b"))
    messages = [
        a
        for a in h.session(LAPTOP, join(jid="j"))
        if isinstance(a, Deliver) and a.stanza.find("body")
    ]
    assert [m.stanza.id for m in messages] == ["b"]


def test_only_historic_messages_are_kept() -> None:
    """XEP-0045 §7.2.13, XEP-0334: chat states and no-store messages are not history."""
    h = joined_at(T0)
    for payload in (
        "<active xmlns='http://jabber.org/protocol/chatstates'/>",
        "<body>secret</body><no-store xmlns='urn:xmpp:hints'/>",
        "<body>brief</body><no-permanent-store xmlns='urn:xmpp:hints'/>",
    ):
        h.room(
            x(
                f"<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org'>{payload}</message>"
            )
        )
    h.room(
        x(
            "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org'><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>"
        )
    )
    h.room(
        x(
            "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>"
        )
    )
    history = h.router._core.table.accounts[PHONE.bare].rooms[ROOM].view.history
    assert history is not None
    assert len(history) == 2


def test_history_is_bounded_by_count_and_size() -> None:
    """Config.max_history_messages and max_history_bytes: the oldest go first."""
    h = joined_at(T0, Router(Config(max_history_messages=3)))
    for n in range(5):
        h.room(groupchat(f"m{n}", mid=f"m{n}"))
    occ = next(iter(h.router._core.table.accounts[PHONE.bare].rooms.values()))
    assert occ.view.history is not None
    assert [s.id for s in occ.view.history.select(None, h.now, 10, ROOM)] == ["m2", "m3", "m4"]
    small = joined_at(T0, Router(Config(max_history_bytes=700)))
    for n in range(5):
        small.room(groupchat("x" * 100, mid=f"m{n}"))
    occ = next(iter(small.router._core.table.accounts[PHONE.bare].rooms.values()))
    assert occ.view.history is not None
    assert 0 < occ.view.history.size <= 700
    assert len(occ.view.history) == 2


def _with_sid(sid: str) -> str:
    return (
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org'>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='{sid}'/></message>"
    )


def test_evicted_messages_leave_the_buffer() -> None:
    """The count bound evicts the oldest message, key and all."""
    h = joined_at(T0, Router(Config(max_history_messages=1)))
    for n in range(2):
        h.room(
            x(
                f"<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='m{n}'>"
                f"<body>{n}</body><stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='s{n}'/></message>"
            )
        )
    history = h.router._core.table.accounts[PHONE.bare].rooms[ROOM].view.history
    assert history is not None
    assert [key for _, _, key, *_ in history._entries] == [message_key(x(_with_sid("s1")), ROOM)]


def _numbered(n: int) -> Stanza:
    """A room message the hot path takes: a body and the room's stanza-id ``s{n}``."""
    return x(
        f"<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='m{n}'>"
        f"<body>{n}</body><stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='s{n}'/></message>"
    )


def test_a_replayed_message_is_made_once_and_goes_with_its_entry() -> None:
    """A late join replays each kept message with its delay, made on its first replay and
    kept while the message is; an evicted message takes its replay with it, on the hot path
    and on the general path alike, so no later message is replayed as an earlier one."""
    h = joined_at(T0, Router(Config(max_history_messages=2)))
    for n in (1, 2):
        h.now = T0 + n
        h.room(_numbered(n))
    history = h.router._core.table.accounts[PHONE.bare].rooms[ROOM].view.history
    assert history is not None and history._replays is None  # nobody joined late yet
    assert bodies(h.session(LAPTOP, join(jid="a"))) == ["1", "2"]
    replays = history._replays
    assert replays is not None
    assert set(replays) == {id(entry) for entry in history._entries}
    kept = list(replays.values())
    assert bodies(h.session(LAPTOP, join(jid="b"))) == ["1", "2"]
    assert all(a is b for a, b in zip(replays.values(), kept, strict=True))  # made once
    h.now = T0 + 3
    h.room(_numbered(3))  # the hot path evicts 1
    h.now = T0 + 4
    h.room(groupchat("4", mid="m4"))  # no stanza-id: the general path evicts 2
    assert replays == {}
    late = [a for a in h.session(LAPTOP, join(jid="c")) if a.stanza.find("body")]
    assert late == [
        Deliver(
            session=LAPTOP,
            stanza=_numbered(3)
            .replace(
                children=(
                    *_numbered(3).children,
                    Element(DELAY, (("from", str(ROOM)), ("stamp", "2027-01-15T08:00:03Z"))),
                ),
            )
            .with_to(LAPTOP),
        ),
        Deliver(
            session=LAPTOP,
            stanza=x(delayed("4", "m4", "2027-01-15T08:00:04Z")).with_to(LAPTOP),
        ),
    ]


def test_dropping_private_messages_or_rekeying_forgets_the_replays() -> None:
    """Either makes the buffer anew: the replays, kept by entry, are made again on use."""
    config = Config()
    history = History()
    for n in (1, 2):
        message = _numbered(n)
        history.add(message, str(ROOM), T0 + n, config, **_facts(message, f"s{n}", n))
    before = history.select(None, T0 + 3, 20, ROOM)
    assert history._replays is not None and len(history._replays) == 2
    history.rekey(ROOM)
    assert history._replays is None
    assert history.select(None, T0 + 3, 20, ROOM) == before
    private = _numbered(3)
    history.add(private, str(ROOM), T0 + 3, config, **{**_facts(private, "s3", 3), "private": True})
    history.forget_private()
    assert history._replays is None
    assert history.select(None, T0 + 3, 20, ROOM) == before


def test_mixed_content_messages_are_kept_whole() -> None:
    """XEP-0071 XHTML-IM: text around inline elements survives the buffer."""
    h = joined_at(T0)
    rich = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='r'>"
        "<body>a b c</body><html xmlns='http://jabber.org/protocol/xhtml-im'>"
        "<body xmlns='http://www.w3.org/1999/xhtml'><p>a <b>b</b> c</p></body></html></message>"
    )
    h.room(rich)
    replayed = [
        a.stanza
        for a in h.session(LAPTOP, join(jid="j"))
        if isinstance(a, Deliver) and a.stanza.id == "r"
    ]
    assert replayed == [
        rich.with_to(LAPTOP).replace(
            children=(
                *rich.children,
                x(
                    f"<message><delay xmlns='urn:xmpp:delay' from='lounge@muc.example.net' stamp='{STAMP0}'/></message>"
                ).children[0],
            )
        )
    ]


class CountingEntries(deque[Any]):
    """A history buffer that counts the entries its readers walk over, newest first."""

    walked = 0

    def __reversed__(self) -> Iterator[Any]:
        for entry in super().__reversed__():
            CountingEntries.walked += 1
            yield entry


def counting(history: History) -> History:
    """``history`` with its buffer counting the entries read."""
    history._entries = CountingEntries(history._entries)
    return history


def test_what_a_device_missed_costs_what_it_missed_not_the_buffer() -> None:
    """``History.after`` reads the returned messages and one more."""
    message = groupchat("hi", mid="m")
    for length in (10, 10_000):
        history = History()
        config = Config(max_history_messages=length, max_history_bytes=10**9)
        for n in range(length):
            history.add(message, str(ROOM), float(n), config, **_facts(message, str(n), n + 1))
        CountingEntries.walked = 0
        assert len(counting(history).after(length - 3, ROOM)) == 3
        assert CountingEntries.walked == 4
        assert len(history.after(0, ROOM)) == length  # older than the buffer: all it has


def test_a_buffer_numbered_out_of_order_gives_every_message_after_a_place() -> None:
    """A message numbered before one kept ahead of it (it came before the room answered the
    join, then again in the room's history; or a late copy of one the account had) does
    not hide the messages after it: while any is out of order, the whole buffer is read."""
    config = Config(max_history_messages=4, max_history_bytes=10**9)
    history = History()

    def add(mid: str, seq: int, *, private: bool = False) -> None:
        message = groupchat(mid, mid=mid)
        facts = {**_facts(message, mid, seq), "private": private}
        history.add(message, str(ROOM), 0.0, config, **facts)

    def after(seq: int) -> list[str | None]:
        return [m.id for m in history.after(seq, ROOM)]

    for mid, seq in (("m4", 4), ("m5", 5), ("m2", 2), ("m6", 6)):
        add(mid, seq)
    assert history._descents == 1
    assert after(4) == ["m5", "m6"]
    assert after(1) == ["m4", "m5", "m2", "m6"]
    add("m7", 7)  # m4 leaves; m2 is still after a higher number
    assert history._descents == 1
    assert after(5) == ["m6", "m7"]
    restored = History.load(history.dump(lambda s: s), tuple)
    assert restored._descents == 1
    assert [m.id for m in restored.after(5, ROOM)] == ["m6", "m7"]
    add("m8", 8)  # m5 leaves: m2 is first, nothing out of order is left
    assert history._descents == 0
    assert after(6) == ["m7", "m8"]
    add("p1", 3, private=True)
    add("m9", 9)
    assert history._descents == 1
    history.forget_private()
    assert history._descents == 0
    assert after(7) == ["m8", "m9"]
    add("p2", 12, private=True)
    history.forget_private()  # the newest goes: the next one is compared with m9
    add("m11", 11)
    assert history._descents == 0
    assert after(9) == ["m11"]
    add("p3", 13, private=True)
    history.forget_private()
    add("m10", 10)  # after m11: out of order
    assert history._descents == 1
    assert after(10) == ["m11"]


def test_one_pass_over_the_payload_finds_delay_stanza_id_and_size() -> None:
    """The room's stanza-id (not another entity's), the first delay, sizes as written."""
    room_text = str(ROOM)
    message = x(
        f"<message type='groupchat' from='{room_text}/bob' to='alice@example.org' id='m'>"
        "<body>b</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='spoof'/>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' id='s1' by='{room_text}' extra='1'/>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='{room_text}' id='s2'/>"
        f"<delay xmlns='urn:xmpp:delay' from='{room_text}' stamp='2027-01-15T08:00:00Z'/>"
        "<delay xmlns='urn:xmpp:delay' stamp='2000-01-01T00:00:00Z'/>"
        "</message>"
    )
    assert History.stanza_id(message, ROOM) == "s1"
    assert History.stanza_id(message.replace(children=message.children[:2]), ROOM) is None
    historic, subject, stanza_id, delay, _, foreign_ids = scan_message(message, str(ROOM))
    assert (historic, subject, stanza_id, foreign_ids) == (True, False, "s1", True)
    assert delay is message.children[4]
    assert scan_message(message.replace(children=message.children[3:]), str(ROOM))[5] is False
    history = History()
    key = message_key(message, ROOM)
    assert key == key_of(message, "s1")
    assert history.add(message, str(ROOM), T0 + 1, Config(), **_facts(message, key, 1)) == T0
    assert history._entries[-1][2] == key
    # A stamp from the future is not believed: the message counts as sent now.
    assert history.add(message, str(ROOM), 0.0, Config(), **_facts(message, "later", 2)) == 0.0
    bare = message.replace(from_=None, to=JID("muc.example.net", "x"), type=None, id=None)
    server = bare.replace(to=JID(None, "example.net"))
    live = message.replace(children=message.children[:4])
    # The estimate counts an empty element as <x></x>; a live message's delay is added.
    unaddressed = message.replace(to=None)
    for stanza, size in (
        (message, 536),
        (bare, 476),
        (server, 470),
        (live, 461),
        (unaddressed, 511),
    ):
        history.add(stanza, str(ROOM), 0.0, Config(), **_facts(stanza, str(size), size))
        assert history._entries[-1][3] == size


def test_tags_past_the_table_s_bound_are_sized_and_read_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tags come from the network: the table of what each adds and means is bounded, and a
    tag it has no room for costs the same characters and plays the same role."""
    message = x(
        f"<message type='groupchat' from='{ROOM}/bob' to='alice@example.org' id='m'>"
        "<body>b</body><fresh-tag xmlns='urn:example:unseen'/><bare xmlns=''/>"
        "<store xmlns='urn:xmpp:hints'/></message>"
    )
    known = scan_message(message, str(ROOM))
    monkeypatch.setattr(history_module, "_TAGS", {})
    monkeypatch.setattr(history_module, "_TAGS_BOUND", 0)
    assert scan_message(message, str(ROOM)) == known
    assert history_module._TAGS == {}
    # <message type='groupchat' id='m'></message> 45, from='lounge@…/bob' 34, to='alice@…' 25
    assert known[4] == sum(element_size(c) for c in message.children) + 104


def _facts(stanza: Stanza, key: str, seq: int) -> dict[str, Any]:
    """:meth:`History.add`'s keywords for ``stanza``, from one :func:`scan_message` pass."""
    _, _, _, delay, size, _ = scan_message(stanza, str(ROOM))
    return {"key": key, "seq": seq, "delay": delay, "size": size, "private": False}


def test_a_late_joiners_history_costs_what_it_gets_not_the_buffer() -> None:
    """``History.select`` stops at the first limit reached: it reads what it returns and one more."""
    message = groupchat("hi", mid="m")
    for length in (30, 10_000):
        history = History()
        config = Config(max_history_messages=length, max_history_bytes=10**9)
        for n in range(length):
            history.add(message, str(ROOM), float(n), config, **_facts(message, str(n), n + 1))
        CountingEntries.walked = 0
        assert len(counting(history).select(None, float(length), 20, ROOM)) == 20
        assert CountingEntries.walked == 21
        CountingEntries.walked = 0
        request = HistoryRequest(maxchars=10**9, seconds=5)
        assert len(history.select(request, float(length), 20, ROOM)) == 5
        assert CountingEntries.walked == 6


def test_a_short_stanza_id_is_its_own_key_and_anything_else_is_hashed() -> None:
    """Up to 36 characters the room's id is the key; longer, or shaped like a digest, or
    absent, the key is 16 hexadecimal digits of BLAKE2b, so no id equals another's hash."""
    message = x(_with_sid("s1"))

    def digest(material: str) -> str:
        return hashlib.blake2b(material.encode(), digest_size=8).hexdigest()

    assert key_of(message, "s1") == message_key(message, ROOM) == "s1"
    assert key_of(message, "a" * 36) == "a" * 36
    assert key_of(message, "a" * 37) == digest("s\0" + "a" * 37)
    assert key_of(message, "0123456789abcdef") == digest("s\0" + "0123456789abcdef")
    assert key_of(message, "0123456789ABCDEF") == "0123456789ABCDEF"
    assert key_of(message, "0123456789abcdeg") == "0123456789abcdeg"
    unkeyed = key_of(message, None)
    assert len(unkeyed) == 16 and int(unkeyed, 16) >= 0
    # A room whose next id is the hash of a message without one: two messages, two keys.
    assert key_of(message, unkeyed) != unkeyed
    # What a version 2 snapshot held for each: the id's hash; a hash it held alike.
    assert version_2_key("s1") == digest("s\0s1")
    assert version_2_key(unkeyed) is None


_ROOM_TEXT = str(ROOM)
_LEAVES = st.sampled_from(
    [
        ("{jabber:client}body", (), "hi"),
        ("{jabber:client}subject", (), "topic"),
        ("{jabber:client}thread", (), "t1"),
        ("{urn:xmpp:hints}store", (), None),
        ("{urn:xmpp:hints}no-store", (), None),
        ("{urn:xmpp:hints}no-permanent-store", (), None),
        ("{urn:xmpp:omemo:2}encrypted", (), None),
        ("{urn:xmpp:delay}delay", (("stamp", "2026-01-01T00:00:00Z"),), None),
        ("{urn:xmpp:sid:0}stanza-id", (("by", _ROOM_TEXT), ("id", "s1")), None),
        ("{urn:xmpp:sid:0}stanza-id", (("id", "s2"), ("by", "Lounge@MUC.example.net")), None),
        ("{urn:xmpp:sid:0}stanza-id", (("by", "alice@example.org"), ("id", "spoof")), None),
        ("{urn:xmpp:sid:0}stanza-id", (("by", _ROOM_TEXT),), None),
        ("{urn:xmpp:sid:0}stanza-id", (("id", "s3"),), None),
        ("{urn:xmpp:sid:0}stanza-id", (("by", "not a jid@"), ("id", "s4")), None),
        ("{urn:example:other}thing", (("a", "b"),), "text"),
        ("bare", (), None),
    ]
)


@st.composite
def _messages(draw: st.DrawFn) -> Stanza:
    children = tuple(
        Element(tag, attrs, (Element("{urn:example:inner}x"),) * draw(st.integers(0, 1)), text)
        for tag, attrs, text in draw(st.lists(_LEAVES, max_size=6))
    )
    message = Stanza(
        "message",
        type=draw(st.sampled_from(["groupchat", "chat", None])),
        from_=ROOM.with_resource(draw(st.sampled_from(["bob", "a much longer nick"]))),
        to=draw(st.sampled_from([ALICE, JID(None, "example.org"), None])),
        id=draw(st.sampled_from([None, "m1", "a-longer-id-1234"])),
        children=children,
    )
    # As built here (no size memos) or as parsed off the wire (memos filled by the parser).
    return parse_stanza(serialize(message)) if draw(st.booleans()) else message


def _reference_scan(stanza: Stanza, room: str) -> tuple[object, ...]:
    """scan_message's facts, the plain way: by tag sets, element_size and _id_by."""
    tags = [c.tag for c in stanza.children]
    body = "{jabber:client}body" in tags
    subject = "{jabber:client}subject" in tags
    thread = "{jabber:client}thread" in tags
    storable = any(t in history_module._STORABLE for t in tags)
    not_stored = any(t in history_module._NOT_STORED for t in tags)
    change = subject and not body and not thread
    ids = [history_module._id_by(c, room) for c in stanza.children if c.tag == STANZA_ID]
    delays = [c for c in stanza.children if c.tag == DELAY]
    size = history_module._envelope(stanza) + sum(element_size(c) for c in stanza.children)
    return (
        (body or storable) and not not_stored and not change,
        change,
        next((i for i in ids if i is not None), None),
        delays[0] if delays else None,
        size,
        None in ids,
    )


@given(_messages())
def test_one_pass_finds_what_reading_each_fact_apart_finds(message: Stanza) -> None:
    """The scan's table of tags and its inline reads give the plain reading's facts."""
    expected = _reference_scan(message, _ROOM_TEXT)
    assert scan_message(message, _ROOM_TEXT) == expected
    assert scan_message(message, _ROOM_TEXT, history_module._envelope(message)) == expected


@given(_messages())
def test_a_groupchat_message_s_envelope_is_its_tags_and_addresses(message: Stanza) -> None:
    """What the hot path counts for a groupchat message from an occupant to the account."""
    assume(message.to == ALICE and message.type == "groupchat")
    assert message.from_ is not None
    nick = message.from_.resource
    assert nick is not None
    envelope = history_module.GROUPCHAT_TAGS + len(_ROOM_TEXT) + len(nick) + 9
    envelope += len(str(ALICE)) + 8 + (0 if message.id is None else len(message.id) + 8)
    assert envelope == history_module._envelope(message)


def test_the_room_s_stanza_id_by_its_domain_in_decomposed_form_is_the_room_s() -> None:
    """RFC 7622 §3.2 (IDNA2008 U-labels are NFC): ``by`` names the room whatever the
    normalisation form of its domain; the id is the room's, no foreign claim to check."""
    room = JID.parse("lounge@m\u00fcc.example.net")
    message = parse_stanza(
        f"<message type='groupchat' from='{room}/bob' to='{ALICE}'><body>hi</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='lounge@mu\u0308c.example.net' id='s1'/></message>"
    )
    historic, _, stanza_id, _, _, foreign = scan_message(message, str(room))
    assert (historic, stanza_id, foreign) == (True, "s1", False)
    assert History.stanza_id(message, room) == "s1"
