"""What the router claims, what it lets through, and what it refuses (RFC 6120, RFC 6121)."""

from __future__ import annotations

import pytest

from helpers import (
    ALICE,
    LAPTOP,
    PHONE,
    ROOM,
    Harness,
    archived,
    dump,
    groupchat,
    join,
    occupant,
    self_presence,
    x,
)
from minimix_core import (
    JID,
    BookmarksChanged,
    Config,
    Continue,
    Deliver,
    Discard,
    DiscardReason,
    Event,
    FromSession,
    LocalProtocolError,
    Router,
    Send,
    SessionClosed,
    ToAccount,
)


def test_stanzas_from_rooms_the_account_is_not_in_continue() -> None:
    """Traffic for rooms without an occupancy is routed normally."""
    h = Harness()
    h.joined(PHONE)
    for stanza in (
        groupchat("hi", room=JID.parse("garden@muc.example.net")),
        x(
            "<message from='bob@example.net/pc' to='alice@example.org' type='chat'><body>x</body></message>"
        ),
        x("<presence from='bob@example.net/pc' to='alice@example.org'/>"),
    ):
        assert h.room(stanza) == [Continue(stanza=stanza)]


def test_every_stanza_from_a_joined_room_is_claimed() -> None:
    """RFC 6121 §8.5.2: groupchat to a bare JID must never reach normal routing."""
    h = Harness()
    h.joined(PHONE)
    message = groupchat("hi")
    assert h.room(message) == [
        archived(message),
        Deliver(session=PHONE, stanza=message.with_to(PHONE)),
    ]
    for stanza in (
        occupant("carol"),
        x(
            "<message from='lounge@muc.example.net' to='alice@example.org'><body>announce</body></message>"
        ),
        x("<presence from='lounge@muc.example.net' to='alice@example.org'/>"),
    ):
        actions = h.room(stanza)
        assert actions == [Deliver(session=PHONE, stanza=stanza.with_to(PHONE))]
    # RFC 6121 §3, §4.3: a probe or subscription request is for the account's server.
    for kind in ("probe", "subscribe"):
        asked = x(
            f"<presence from='lounge@muc.example.net/bob' to='alice@example.org' type='{kind}'/>"
        )
        assert h.room(asked) == [Continue(stanza=asked)]


def test_iq_from_the_room_continues_to_the_server() -> None:
    """IQs to the account's bare JID are answered by the server on its behalf (RFC 6121 §8.5.2.1.3)."""
    h = Harness()
    h.joined(PHONE)
    iq = x(
        "<iq from='lounge@muc.example.net/bob' to='alice@example.org' type='get' id='q'>"
        "<query xmlns='jabber:iq:version'/></iq>"
    )
    assert h.room(iq) == [Continue(stanza=iq)]


def test_stanza_without_from_to_the_account_is_discarded() -> None:
    """A stanza from the network always has a sender; one without makes no sense."""
    h = Harness()
    stanza = x("<message to='alice@example.org' type='groupchat'><body>?</body></message>")
    assert h.room(stanza) == [Discard(stanza=stanza, reason=DiscardReason.MALFORMED)]


def test_error_from_a_session_to_a_room_is_discarded() -> None:
    """Fixtures finding 11: an error from the account gets it kicked (333)."""
    h = Harness()
    h.joined(PHONE)
    for text in (
        "<message to='lounge@muc.example.net/bob' type='error' id='e'><error type='cancel'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
        "<presence to='lounge@muc.example.net/alice' type='error'><error type='cancel'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
    ):
        stanza = x(text)
        assert h.session(PHONE, stanza) == [
            Discard(stanza=stanza, reason=DiscardReason.ERROR_TO_ROOM)
        ]


def test_presence_to_a_room_without_occupancy_continues() -> None:
    """Directed presence to a room the account is not in is ordinary presence."""
    h = Harness()
    update = x("<presence to='lounge@muc.example.net/alice'><show>away</show></presence>")
    assert h.session(PHONE, update) == [Continue(stanza=update)]
    error = x("<presence to='lounge@muc.example.net/alice' type='error'/>")
    assert h.session(PHONE, error) == [Continue(stanza=error)]


def test_subscription_presence_to_a_room_continues() -> None:
    """RFC 6121 §3: subscriptions are the roster's business, not the room's."""
    h = Harness()
    h.joined(PHONE)
    for kind in ("subscribe", "subscribed", "unsubscribe", "unsubscribed"):
        stanza = x(f"<presence to='lounge@muc.example.net' type='{kind}'/>")
        assert h.session(PHONE, stanza) == [Continue(stanza=stanza)]


def test_probe_to_a_room_goes_out_from_the_bare_jid_for_members_only() -> None:
    """XEP-0045 §17.3 rule 4: the room answers probes from occupants."""
    h = Harness()
    h.joined(PHONE)
    probe = x("<presence to='lounge@muc.example.net/bob' type='probe'/>")
    assert h.session(PHONE, probe) == [Send(stanza=probe.with_from(ALICE))]
    assert h.session(LAPTOP, probe) == [Discard(stanza=probe, reason=DiscardReason.NOT_IN_ROOM)]


def test_presence_of_unknown_type_to_a_room_is_discarded_as_malformed() -> None:
    """RFC 6121 §4.7.1: an unknown presence type makes no sense; it changes nothing."""
    h = Harness()
    h.joined(PHONE)
    before = dump(h.router)
    odd = x("<presence to='lounge@muc.example.net/alice' type='dance'/>")
    assert h.session(PHONE, odd) == [Discard(stanza=odd, reason=DiscardReason.MALFORMED)]
    assert dump(h.router) == before


def test_forged_from_is_discarded_and_changes_nothing() -> None:
    """The router trusts event.session, never a from the client wrote."""
    h = Harness()
    h.joined(PHONE)
    before = dump(h.router)
    for sender in ("mallory@example.org/x", "alice@example.org/laptop", "example.org"):
        forged = join().replace(from_=JID.parse(sender))
        assert h.session(PHONE, forged) == [
            Discard(stanza=forged, reason=DiscardReason.FORGED_FROM)
        ]
    assert dump(h.router) == before


def test_join_without_a_nick_is_refused_and_changes_nothing() -> None:
    """XEP-0045 §7.2.1: no nick means jid-malformed (modify) from the room."""
    h = Harness()
    bad = x(
        "<presence to='lounge@muc.example.net' id='n'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    )
    assert h.session(PHONE, bad) == [
        Deliver(
            session=PHONE,
            stanza=x(
                "<presence type='error' from='lounge@muc.example.net' to='alice@example.org/phone' id='n'>"
                "<error type='modify'><jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                "</error></presence>"
            ),
        )
    ]
    assert h.router._core.table.accounts == {}


def test_stanzas_without_to_continue() -> None:
    """A stanza to the server itself is not room traffic."""
    h = Harness()
    for text in (
        "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>",
        "<message><body>?</body></message>",
    ):
        stanza = x(text)
        assert h.session(PHONE, stanza) == [Continue(stanza=stanza)]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (FromSession(session=ALICE, stanza=join()), "not a full JID"),
        (SessionClosed(session=ALICE), "not a full JID"),
        (ToAccount(stanza=groupchat("x").with_to(PHONE)), "not a bare JID"),
        (ToAccount(stanza=join()), "not a bare JID"),
        (ToAccount(stanza=x("<message><body>x</body></message>")), "not a bare JID"),
        ("not an event", "not an event"),
    ],
)
def test_host_misuse_raises_and_changes_nothing(event: object, message: str) -> None:
    """Host errors raise LocalProtocolError before anything changes."""
    h = Harness()
    h.joined(PHONE)
    before = dump(h.router)
    with pytest.raises(LocalProtocolError, match=message):
        h.router.handle(event, now=h.now)  # type: ignore[arg-type]
    assert dump(h.router) == before


def test_time_going_back_raises() -> None:
    """`now` never goes back; equal times are fine."""
    h = Harness()
    h.router.handle(SessionClosed(session=PHONE), now=5.0)
    h.router.handle(SessionClosed(session=PHONE), now=5.0)
    with pytest.raises(LocalProtocolError, match="time went back"):
        h.router.handle(SessionClosed(session=PHONE), now=4.0)
    with pytest.raises(LocalProtocolError, match="POSIX seconds"):
        h.router.handle(SessionClosed(session=PHONE), now=float("nan"))
    with pytest.raises(LocalProtocolError, match="time went back"):
        h.router.handle_timer(1.0)
    assert h.router.handle_timer(6.0) == []
    assert h.router.next_deadline() is None


def test_rooms_per_account_bound_refuses_with_resource_constraint() -> None:
    """Config.max_rooms_per_account: a join beyond it gets resource-constraint (wait)."""
    h = Harness(Router(Config(max_rooms_per_account=1)))
    h.joined(PHONE)
    request = join(room=JID.parse("garden@muc.example.net"))
    [action] = h.session(PHONE, request)
    assert action == Deliver(
        session=PHONE,
        stanza=x(
            "<presence type='error' from='garden@muc.example.net/alice' to='alice@example.org/phone' id='j1'>"
            "<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "</error></presence>"
        ),
    )
    assert list(h.router._core.table.accounts[ALICE].rooms) == [ROOM]


def test_sessions_per_room_bound_refuses_with_resource_constraint() -> None:
    """Config.max_sessions_per_room: one more session is refused, a resync is not."""
    h = Harness(Router(Config(max_sessions_per_room=1)))
    h.joined(PHONE)
    [action] = h.session(LAPTOP, join(jid="j2"))
    assert isinstance(action, Deliver)
    assert action.stanza.type == "error"
    assert len(h.session(PHONE, join(jid="again"))) == 3


def test_occupant_cache_bound_keeps_forwarding_but_stops_caching() -> None:
    """Config.max_occupants_per_room: live presence still flows; the cache stays bounded."""
    h = Harness(Router(Config(max_occupants_per_room=1)))
    h.joined(PHONE, others=("bob",))
    carol = occupant("carol")
    assert h.room(carol) == [Deliver(session=PHONE, stanza=carol.with_to(PHONE))]
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert list(occ.view.occupants) == ["bob"]
    h.room(occupant("bob", role="moderator"))
    assert occ.view.occupants["bob"] == occupant("bob", role="moderator").replace(to=None)


def test_self_presence_while_joined_updates_the_cache() -> None:
    """XEP-0045 §9.3: a role or affiliation change of the account is remembered and forked."""
    h = Harness()
    h.joined(PHONE)
    promoted = self_presence(role="moderator")
    assert h.room(promoted) == [Deliver(session=PHONE, stanza=promoted.with_to(PHONE))]
    kept = h.router._core.table.accounts[ALICE].rooms[ROOM].view.self_presence
    assert kept == promoted.replace(to=None)


def test_occupant_cache_is_bounded_in_bytes_too() -> None:
    """Config.max_occupant_bytes: presences vary in size; a large one is forwarded live but
    not cached once the cache holds its bound, and leaving frees the room it took."""
    big = "x" * 400
    h = Harness(Router(Config(max_occupant_bytes=800)))
    h.joined(PHONE, others=("bob",))
    carol = x(
        f"<presence from='lounge@muc.example.net/carol' to='alice@example.org'><status>{big}</status>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>"
    )
    dave = carol.replace(from_=ROOM.with_resource("dave"))
    assert h.room(carol) == [Deliver(session=PHONE, stanza=carol.with_to(PHONE))]
    assert h.room(dave) == [Deliver(session=PHONE, stanza=dave.with_to(PHONE))]
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None and view.occupants == ("bob", "carol")
    h.room(
        x(
            "<presence type='unavailable' from='lounge@muc.example.net/carol' to='alice@example.org'/>"
        )
    )
    h.room(dave)
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None and view.occupants == ("bob", "dave")


def test_an_unknown_occupant_leaving_is_forwarded_and_changes_nothing() -> None:
    """§7.14: the room may announce someone the account never saw (joined and left while
    the cache was full); the sessions see it, the cache stays as it was."""
    h = Harness()
    h.joined(PHONE)
    gone = x(
        "<presence type='unavailable' from='lounge@muc.example.net/zed' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"
    )
    assert h.room(gone) == [Deliver(session=PHONE, stanza=gone.with_to(PHONE))]
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None and view.occupants == ("bob",)


@pytest.mark.parametrize(
    "event",
    [
        FromSession(session="alice@example.org/phone", stanza=join()),  # type: ignore[arg-type]
        FromSession(session=PHONE, stanza="<presence/>"),  # type: ignore[arg-type]
        ToAccount(stanza=None),  # type: ignore[arg-type]
        SessionClosed(session=None),  # type: ignore[arg-type]
        BookmarksChanged(account=ALICE, bookmarks=("lounge",)),  # type: ignore[arg-type]
        BookmarksChanged(account="alice", bookmarks=()),  # type: ignore[arg-type]
    ],
)
def test_an_event_of_the_wrong_types_is_the_hosts_bug(event: Event) -> None:
    """Wrong types raise LocalProtocolError and change nothing (not AttributeError later)."""
    h = Harness()
    h.joined(PHONE)
    before = dump(h.router)
    with pytest.raises(LocalProtocolError):
        h.router.handle(event, now=h.now)
    assert dump(h.router) == before
