"""What an occupancy keeps, and what it shares: the router's memory per occupancy.

Thousands of accounts sit in the same rooms; most occupancies have no session waiting or
leaving and cache no occupant. These tests pin down that such occupancies hold no
containers of their own, and that what is shared stays correct when it is written to.
"""

from __future__ import annotations

import zlib

import pytest

from helpers import (
    LAPTOP,
    OTHER_ROOM,
    PHONE,
    ROOM,
    Harness,
    archived,
    groupchat,
    join,
    occupant,
    self_presence,
    x,
)
from minimix_core import (
    JID,
    Deliver,
    Element,
    Router,
    Send,
    Stanza,
    _packed,
    parse_stanza,
    serialize,
)
from minimix_core._sessions import (
    NO_ENTRIES,
    Attachment,
    SoleSession,
    add_session,
    drop_session,
    writable,
)
from minimix_core._table import Occupancy

DISCO = "http://jabber.org/protocol/disco#info"


def _occupancy(h: Harness) -> Occupancy:
    return h.router._core.table.accounts[PHONE.bare].rooms[ROOM]


def test_a_quiet_occupancy_shares_its_empty_containers() -> None:
    h = Harness()
    h.joined(PHONE, others=())
    occupancy = _occupancy(h)
    assert occupancy.pending is NO_ENTRIES
    assert occupancy.leaving is NO_ENTRIES
    assert occupancy.view.occupants is NO_ENTRIES
    assert list(occupancy.attached) == [PHONE]


def test_the_shared_empty_mapping_takes_no_entries() -> None:
    for write in (
        lambda: NO_ENTRIES.__setitem__(PHONE, None),
        lambda: NO_ENTRIES.setdefault(PHONE, None),
        lambda: NO_ENTRIES.update({PHONE: None}),
        lambda: NO_ENTRIES.__ior__({PHONE: None}),
    ):
        with pytest.raises(TypeError):
            write()
    assert NO_ENTRIES == {}
    fresh = writable(NO_ENTRIES)
    fresh[PHONE] = None
    assert fresh is not NO_ENTRIES and NO_ENTRIES == {}
    assert writable(fresh) is fresh


def test_an_account_fills_its_own_containers_only_when_it_needs_them() -> None:
    """IQs in flight, bookmarks, blocked rooms and room memory: none for most accounts."""
    h = Harness()
    h.joined(PHONE, others=())
    account = h.router._core.table.accounts[PHONE.bare]
    empty = (account.pending_iqs, account.bookmarks, account.blocked, account.memory)
    assert all(entries is NO_ENTRIES for entries in empty)
    h.session(PHONE, x(f"<iq to='{ROOM}' type='get' id='d1'><query xmlns='{DISCO}'/></iq>"))
    h.room(groupchat("hello", mid="m1"))
    [pending] = account.pending_iqs.values()
    assert pending.original_id == "d1"
    assert list(account.memory) == [ROOM]
    assert account.bookmarks is NO_ENTRIES and account.blocked is NO_ENTRIES
    assert NO_ENTRIES == {}


def test_containers_filled_after_sharing_are_the_occupancy_own() -> None:
    """A late joiner, an occupant after the join: each occupancy gets a dict of its own."""
    h = Harness()
    h.joined(PHONE, others=())
    h.room(occupant("bob"))
    h.session(LAPTOP, join(jid="j2"))
    occupancy = _occupancy(h)
    assert list(occupancy.view.occupants) == ["bob"]
    assert list(occupancy.attached) == [PHONE, LAPTOP]
    assert NO_ENTRIES == {}
    h.room(self_presence())  # nothing of it leaked into the shared mapping
    assert NO_ENTRIES == {}


def _attachment(nick: str = "alice") -> Attachment:
    return Attachment(join_id=None, nick=nick, request=None)


def test_one_session_is_held_without_a_dict() -> None:
    """Most occupancies have one session: it is held as a one-entry mapping of its own."""
    h = Harness()
    h.session(PHONE, join())
    waiting = _occupancy(h).pending
    assert type(waiting) is SoleSession and list(waiting) == [PHONE]
    h.room(self_presence())
    occupancy = _occupancy(h)
    assert occupancy.attached is waiting and occupancy.pending is NO_ENTRIES
    h.session(LAPTOP, join(jid="j2"))
    assert isinstance(occupancy.attached, dict) and list(occupancy.attached) == [PHONE, LAPTOP]
    message = groupchat("hi")
    assert h.room(message) == [
        archived(message),
        Deliver(session=PHONE, stanza=message.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=message.with_to(LAPTOP)),
    ]
    h.session(PHONE, x(f"<presence type='unavailable' to='{ROOM}/alice'/>"))
    assert list(occupancy.attached) == [LAPTOP]
    h.session(LAPTOP, x(f"<presence type='unavailable' to='{ROOM}/alice'/>"))
    assert type(occupancy.leaving) is SoleSession and list(occupancy.leaving) == [LAPTOP]


def test_a_restored_occupancy_holds_its_one_session_without_a_dict() -> None:
    h = Harness()
    h.joined(PHONE, others=())
    h.session(PHONE, join(room=OTHER_ROOM))
    h.session(LAPTOP, join(room=OTHER_ROOM, jid="j2"))
    restored = Router.restore(h.router.snapshot(), now=0.0, sessions=True)
    account = restored._core.table.accounts[PHONE.bare]
    assert type(account.rooms[ROOM].attached) is SoleSession
    assert list(account.rooms[ROOM].attached) == [PHONE]
    pending = account.rooms[OTHER_ROOM].pending
    assert isinstance(pending, dict) and list(pending) == [PHONE, LAPTOP]


def test_a_sole_session_reads_as_a_mapping_of_one_entry() -> None:
    attachment = _attachment()
    sole = SoleSession(PHONE, attachment)
    assert sole[PHONE] is attachment
    with pytest.raises(KeyError):
        sole[LAPTOP]
    assert (PHONE in sole, LAPTOP in sole, len(sole), list(sole)) == (True, False, 1, [PHONE])
    assert sole.get(LAPTOP) is None and sole.get(PHONE) is attachment
    assert list(sole.items()) == [(PHONE, attachment)] and sole == {PHONE: attachment}
    assert repr(sole) == f"SoleSession({PHONE!r}, {attachment!r})"


def test_sessions_grow_from_none_to_one_to_a_dict_and_shrink_back() -> None:
    first, second, again = _attachment(), _attachment("other"), _attachment()
    one = add_session(NO_ENTRIES, PHONE, first)
    assert type(one) is SoleSession and one == {PHONE: first}
    replaced = add_session(one, PHONE, again)
    assert type(replaced) is SoleSession and replaced[PHONE] is again and one[PHONE] is first
    two = add_session(one, LAPTOP, second)
    assert type(two) is dict and list(two.items()) == [(PHONE, first), (LAPTOP, second)]
    assert add_session(two, PHONE, again) is two and list(two) == [PHONE, LAPTOP]
    assert drop_session(two, PHONE) == (two, again) and list(two) == [LAPTOP]
    assert drop_session(two, PHONE) == (two, None)
    assert drop_session(one, LAPTOP) == (one, None)
    assert drop_session(one, PHONE) == (NO_ENTRIES, first)
    left, none = drop_session(NO_ENTRIES, PHONE)
    assert left is NO_ENTRIES and none is None and NO_ENTRIES == {}
    assert type(add_session({}, PHONE, first)) is SoleSession


def test_a_session_request_is_kept_only_while_it_waits() -> None:
    """The request makes the account's join; once attached, nothing is made from it."""
    h = Harness()
    h.session(PHONE, join())
    waiting = _occupancy(h).pending[PHONE]
    assert waiting.request == join()
    h.room(self_presence())
    assert _occupancy(h).attached[PHONE] is waiting and waiting.request is None
    h.session(LAPTOP, join(jid="j2"))  # a late join, attached at once
    assert _occupancy(h).attached[LAPTOP].request is None


def test_the_join_is_kept_without_its_addresses_and_sent_with_them() -> None:
    """What is kept of the join is equal for every account joining alike (one value for
    all of them); the join sent carries the account, the nick and the session's id."""
    h = Harness()
    request = join(inner="<history maxstanzas='5'/>")
    [sent] = h.session(PHONE, request)
    occupancy = _occupancy(h)
    assert (occupancy.join_nick, occupancy.join_id) == ("alice", "j1")
    template = occupancy.join_template
    assert (template.from_, template.to, template.id) == (None, None, None)
    assert template.children == request.children
    assert sent == Send(stanza=request.replace(from_=PHONE.bare))
    assert occupancy.join_from(PHONE.bare) == sent.stanza


def test_a_session_jid_is_kept_once_for_all_its_rooms() -> None:
    """A host may build a new, equal JID for each stanza: every room keys the first one."""
    h = Harness()
    phone = JID.parse("alice@example.org/phone")
    h.session(phone, join())
    again = JID("alice", "example.org", "phone")
    assert again == phone and again is not phone
    h.session(again, join(room=OTHER_ROOM))
    account = h.router._core.table.accounts[PHONE.bare]
    [kept] = account.rooms[OTHER_ROOM].pending
    assert kept is phone
    assert account.sessions[again].session is phone


def test_the_self_presence_is_kept_packed_and_read_back_equal() -> None:
    """The one stanza of a room that differs for every account is kept as deflated text."""
    h = Harness()
    h.joined(PHONE, others=())
    view = _occupancy(h).view
    expected = self_presence().replace(to=None)
    assert isinstance(view.self_kept, bytes)
    text = zlib.decompressobj(-10, _packed._WORDS).decompress(view.self_kept)
    assert text.decode() == serialize(expected)
    assert len(view.self_kept) < len(text) // 2
    assert view.self_presence == expected
    assert view.self_presence is view.self_presence  # read once, then kept parsed
    view.self_presence = None
    assert view.self_kept is None and view.self_presence is None


def test_a_self_presence_whose_text_would_not_read_back_is_kept_as_it_is() -> None:
    """A host may hand over stanzas it made itself, with names XML does not allow."""
    h = Harness()
    h.session(PHONE, join())
    odd = Element("{urn:example:odd}not a name")
    me = self_presence()
    h.room(me.with_children((*me.children, odd)))
    view = _occupancy(h).view
    assert isinstance(view.self_kept, Stanza)
    assert view.self_presence is view.self_kept
    [answer] = [a for a in h.session(LAPTOP, join(jid="j2")) if a.stanza.kind == "presence"]
    assert answer.stanza.find("{urn:example:odd}not a name") == odd


def test_a_late_joiner_gets_the_carriage_returns_the_room_sent() -> None:
    """The self-presence kept as text reads back with the CRs the room escaped."""
    h = Harness()
    h.session(PHONE, join())
    sent = x(
        f"<presence from='{ROOM}/alice' to='alice@example.org'>"
        "<status>back&#13;&#10;soon&#13;</status>"
        "<x xmlns='http://jabber.org/protocol/muc#user'>"
        "<item affiliation='member' role='participant'/><status code='110'/></x></presence>"
    )
    status = sent.find("status")
    assert status is not None and status.text == "back\r\nsoon\r"
    [first] = h.room(sent)
    assert first.stanza == sent.replace(to=PHONE)
    [late] = [a for a in h.session(LAPTOP, join(jid="j2")) if a.stanza.kind == "presence"]
    assert late.stanza == sent.replace(to=LAPTOP, id="j2")
    assert parse_stanza(serialize(late.stanza)) == late.stanza


@pytest.mark.parametrize(
    "made",
    [
        Element("plain"),  # no namespace: written with xmlns="", read back in jabber:client
        Element("{urn:example:x}x", text=""),  # empty text: read back as None
        Element("{urn:example:x}x", (), (Element("{urn:example:x}y", tail=" "),), text=" "),
    ],
)
def test_a_self_presence_whose_text_reads_back_different_is_kept_as_it_is(made: Element) -> None:
    """A host may hand over stanzas it made itself that parse back to another value."""
    h = Harness()
    h.session(PHONE, join())
    me = self_presence()
    sent = me.with_children((*me.children, made))
    h.room(sent)
    view = _occupancy(h).view
    assert view.self_presence == sent.replace(to=None)
    [late] = [a for a in h.session(LAPTOP, join(jid="j2")) if a.stanza.kind == "presence"]
    assert late.stanza == sent.replace(to=LAPTOP, id="j2")
    assert serialize(late.stanza) == serialize(sent.replace(to=LAPTOP, id="j2"))


def test_a_packed_self_presence_keeps_characters_beyond_ascii() -> None:
    """Packed as UTF-8: a nick and a status with accents and an astral character read back."""
    h = Harness()
    nick = "zoë🦊"
    h.session(PHONE, join(nick=nick))
    me = x(
        f"<presence from='{ROOM}/{nick}' to='alice@example.org'><status>bientôt 🦊</status>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' "
        "role='participant'/><status code='110'/></x></presence>"
    )
    h.room(me)
    view = _occupancy(h).view
    assert isinstance(view.self_kept, bytes)
    assert view.self_presence == me.replace(to=None)
    [answer] = [
        a for a in h.session(LAPTOP, join(nick=nick, jid="j2")) if a.stanza.kind == "presence"
    ]
    assert answer.stanza.find("status") == me.find("status")
