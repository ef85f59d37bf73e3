"""IQs between sessions and rooms: id mapping, timeouts, self-ping (RFC 6120 §8.2.3, XEP-0410)."""

from __future__ import annotations

from helpers import ALICE, LAPTOP, PHONE, ROOM, TABLET, Harness, forgotten, join, x
from minimix_core import Config, Continue, Deliver, Discard, DiscardReason, Router, Send

DISCO = "<iq to='lounge@muc.example.net' type='get' id='{id}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
KICK = (
    "<iq to='lounge@muc.example.net' type='set' id='{id}'><query xmlns='http://jabber.org/protocol/muc#admin'>"
    "<item nick='bob' role='none'><reason>spam</reason></item></query></iq>"
)


def result(iq_id: str, sender: str = "lounge@muc.example.net") -> str:
    return f"<iq type='result' from='{sender}' to='alice@example.org' id='{iq_id}'/>"


def test_session_iq_leaves_from_the_account_with_a_fresh_id() -> None:
    """XEP-0045 §8.2: a kick must come from the occupant, the bare JID; ids come from the id source."""
    h = Harness()
    h.joined(PHONE)
    assert h.session(PHONE, x(KICK.format(id="k1"))) == [
        Send(stanza=x(KICK.format(id="mmx-1")).with_from(ALICE))
    ]
    assert h.router.next_deadline() == 60.0


def test_answer_goes_back_to_the_asking_session_only_with_its_id() -> None:
    """RFC 6120 §8.2.3: exactly one response, to the requester, with the request's id."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(LAPTOP, x(KICK.format(id="k1")))
    answer = x(result("mmx-1"))
    assert h.room(answer) == [
        Deliver(
            session=LAPTOP,
            stanza=x(
                "<iq type='result' from='lounge@muc.example.net' to='alice@example.org/laptop' id='k1'/>"
            ),
        )
    ]
    assert h.router.next_deadline() == 900.0  # only the keep-alive is left
    assert h.router._core.table.accounts[ALICE].pending_iqs == {}


def test_two_sessions_with_the_same_id_never_get_each_others_answers() -> None:
    """Ids are per session; the room sees distinct ids."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    [first] = h.session(PHONE, x(DISCO.format(id="same")))
    [second] = h.session(LAPTOP, x(DISCO.format(id="same")))
    assert isinstance(first, Send)
    assert isinstance(second, Send)
    assert (first.stanza.id, second.stanza.id) == ("mmx-1", "mmx-2")
    error = x(
        "<iq type='error' from='lounge@muc.example.net' to='alice@example.org' id='mmx-2'>"
        "<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    assert h.room(error) == [Deliver(session=LAPTOP, stanza=error.replace(to=LAPTOP, id="same"))]
    [answer] = h.room(x(result("mmx-1")))
    assert answer == Deliver(session=PHONE, stanza=x(result("same")).replace(to=PHONE))


def test_timeout_answers_the_session_and_a_late_answer_is_discarded() -> None:
    """Every IQ gets exactly one answer: remote-server-timeout after Config.iq_timeout."""
    h = Harness(Router(Config(iq_timeout=30.0)))
    h.joined(PHONE)
    h.session(PHONE, x(DISCO.format(id="d1")))
    assert h.router.handle_timer(29.0) == []
    assert h.router.handle_timer(30.0) == [
        Deliver(
            session=PHONE,
            stanza=x(
                "<iq type='error' from='lounge@muc.example.net' to='alice@example.org/phone' id='d1'>"
                "<error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                "</error></iq>"
            ),
        )
    ]
    assert h.router.next_deadline() == 900.0
    late = x(result("mmx-1"))
    h.now = 31.0
    assert h.room(late) == [Discard(stanza=late, reason=DiscardReason.STALE)]


def test_closed_session_frees_its_answer_and_its_timeout() -> None:
    """A closed session's answer is discarded with a reason; its timeout produces nothing."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(LAPTOP, x(DISCO.format(id="a")))
    h.session(LAPTOP, x(DISCO.format(id="b")))
    h.session(PHONE, x(DISCO.format(id="c")))
    h.closed(LAPTOP)
    answer = x(result("mmx-1"))
    assert h.room(answer) == [Discard(stanza=answer, reason=DiscardReason.NO_SESSION)]
    assert h.router.handle_timer(60.0) == [
        Deliver(
            session=PHONE,
            stanza=x(
                "<iq type='error' from='lounge@muc.example.net' to='alice@example.org/phone' id='c'>"
                "<error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                "</error></iq>"
            ),
        )
    ]
    assert h.router._core.table.accounts[ALICE].pending_iqs == {}


def test_answer_after_the_account_left_still_reaches_the_session() -> None:
    """An IQ answer is not room traffic: it goes to its asker even after a leave."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(DISCO.format(id="d")))
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    h.room(
        x(
            "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'/>"
        )
    )
    assert h.router._core.table.accounts[ALICE].rooms == {}
    [answer] = h.room(x(result("mmx-1")))
    assert answer == Deliver(session=PHONE, stanza=x(result("d")).replace(to=PHONE))
    assert forgotten(h)


def test_pending_iq_bound_refuses_with_resource_constraint() -> None:
    """Config.max_pending_iqs: one more IQ is refused; nothing is sent."""
    h = Harness(Router(Config(max_pending_iqs=1)))
    h.joined(PHONE)
    h.session(PHONE, x(DISCO.format(id="1")))
    assert h.session(PHONE, x(DISCO.format(id="2"))) == [
        Deliver(
            session=PHONE,
            stanza=x(
                "<iq type='error' from='lounge@muc.example.net' to='alice@example.org/phone' id='2'>"
                "<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                "</error></iq>"
            ),
        )
    ]


def test_iq_without_id_is_discarded() -> None:
    """RFC 6120 §8.1.3: an IQ must have an id; without one it cannot be answered."""
    h = Harness()
    h.joined(PHONE)
    bad = x("<iq to='lounge@muc.example.net' type='get'><query xmlns='jabber:iq:version'/></iq>")
    assert h.session(PHONE, bad) == [Discard(stanza=bad, reason=DiscardReason.MALFORMED)]


def test_iqs_that_are_not_the_routers_continue() -> None:
    """Non-members, responses, rooms the account is not in: routed as without the router."""
    h = Harness()
    h.joined(PHONE)
    for session, text in (
        (TABLET, DISCO.format(id="n")),
        (PHONE, "<iq to='lounge@muc.example.net/bob' type='result' id='r'/>"),
        (
            PHONE,
            "<iq to='garden@muc.example.net' type='get' id='g'><query xmlns='jabber:iq:version'/></iq>",
        ),
    ):
        stanza = x(text)
        assert h.session(session, stanza) == [Continue(stanza=stanza)]


def test_room_requests_to_the_account_continue_to_the_server() -> None:
    """Fixture k: the room forwards an occupant's IQ to the bare JID; the server answers it."""
    h = Harness()
    h.joined(PHONE)
    for text in (
        "<iq type='get' to='alice@example.org' from='lounge@muc.example.net/bob' id='Ym9i'><query xmlns='jabber:iq:version'/></iq>",
        result("not-ours"),
        result("mmx-99", sender="garden@muc.example.net"),
        "<iq type='result' to='alice@example.org' from='lounge@muc.example.net'/>",
    ):
        stanza = x(text)
        expected = (
            [Discard(stanza=stanza, reason=DiscardReason.STALE)]
            if stanza.id == "mmx-99"
            else [Continue(stanza=stanza)]
        )
        assert h.room(stanza) == expected


def test_answer_from_another_room_with_a_matching_id_is_not_taken() -> None:
    """Ids are matched together with the room they were sent to."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(DISCO.format(id="d")))
    spoof = x(result("mmx-1", sender="garden@muc.example.net"))
    assert h.room(spoof) == [Discard(stanza=spoof, reason=DiscardReason.UNEXPECTED)]
    assert "mmx-1" in h.router._core.table.accounts[ALICE].pending_iqs


def test_pending_session_iq_follows_the_join() -> None:
    """A room handles stanzas in order: an IQ after the join reaches it after the join."""
    h = Harness()
    h.session(PHONE, join())
    config = x(
        "<iq to='lounge@muc.example.net' type='set' id='iq4'><query xmlns='http://jabber.org/protocol/muc#owner'>"
        "<x xmlns='jabber:x:data' type='submit'/></query></iq>"
    )
    assert h.session(PHONE, config) == [Send(stanza=config.replace(from_=ALICE, id="mmx-1"))]


PING = (
    "<iq to='lounge@muc.example.net/{nick}' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
)


def test_self_ping_of_an_attached_session_is_answered_by_the_router() -> None:
    """XEP-0410 §3.3: joined and attached means result, from the occupant JID; nothing is sent."""
    h = Harness()
    h.joined(PHONE)
    assert h.session(PHONE, x(PING.format(nick="alice"))) == [
        Deliver(
            session=PHONE,
            stanza=x(
                "<iq type='result' from='lounge@muc.example.net/alice' to='alice@example.org/phone' id='p1'/>"
            ),
        )
    ]


def test_self_ping_of_a_session_not_attached_is_not_acceptable() -> None:
    """XEP-0410 §3.2, fixture i step 2: not-acceptable (cancel) by the room, Prosody's text."""
    h = Harness()
    h.joined(PHONE)
    expected = x(
        """
        <iq type='error' to='alice@example.org/tablet' from='lounge@muc.example.net/alice' id='p1'>
          <error type='cancel' by='lounge@muc.example.net'>
            <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
            <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>You are not currently connected to this chat</text>
          </error>
        </iq>
        """
    )
    assert h.session(TABLET, x(PING.format(nick="alice"))) == [
        Deliver(session=TABLET, stanza=expected)
    ]


def test_self_ping_while_the_join_is_in_flight_is_not_acceptable() -> None:
    """Not joined yet: the client must not believe it is in the room."""
    h = Harness()
    h.session(PHONE, join())
    [action] = h.session(PHONE, x(PING.format(nick="alice")))
    assert isinstance(action, Deliver)
    assert action.stanza.type == "error"


def test_ping_to_an_unknown_nick_is_item_not_found_by_the_room() -> None:
    """Fixture i step 3: item-not-found, cancel, by the room, 'Recipient not in room'."""
    h = Harness()
    h.joined(PHONE)
    expected = x(
        """
        <iq type='error' to='alice@example.org/phone' from='lounge@muc.example.net/nobody' id='p1'>
          <error type='cancel' by='lounge@muc.example.net'>
            <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
            <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Recipient not in room</text>
          </error>
        </iq>
        """
    )
    assert h.session(PHONE, x(PING.format(nick="nobody"))) == [
        Deliver(session=PHONE, stanza=expected)
    ]


def test_ping_to_another_occupant_is_forwarded_like_any_iq() -> None:
    """Fixture i step 4: a ping to bob goes to bob, from the account, and bob's answer returns."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    ping = x(PING.format(nick="bob"))
    assert h.session(PHONE, ping) == [Send(stanza=ping.replace(from_=ALICE, id="mmx-1"))]
    [answer] = h.room(x(result("mmx-1", sender="lounge@muc.example.net/bob")))
    assert answer == Deliver(
        session=PHONE,
        stanza=x(
            "<iq type='result' from='lounge@muc.example.net/bob' to='alice@example.org/phone' id='p1'/>"
        ),
    )


def test_ping_set_or_without_ping_payload_is_an_ordinary_iq() -> None:
    """Only a get with <ping/> to an occupant JID is a self-ping."""
    h = Harness()
    h.joined(PHONE)
    vcard = x(
        "<iq to='lounge@muc.example.net/alice' type='get' id='v'><vCard xmlns='vcard-temp'/></iq>"
    )
    assert h.session(PHONE, vcard) == [Send(stanza=vcard.replace(from_=ALICE, id="mmx-1"))]
    room_ping = x(
        "<iq to='lounge@muc.example.net' type='get' id='r'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    assert h.session(PHONE, room_ping) == [Send(stanza=room_ping.replace(from_=ALICE, id="mmx-2"))]
    assert room_ping.to == ROOM


def test_reserved_nick_discovery_and_registration_speak_for_the_account() -> None:
    """XEP-0045 §7.12 and §7.10: both are about the account's bare JID, which the room sees."""
    h = Harness()
    discover = x(
        "<iq to='lounge@muc.example.net' type='get' id='r1'>"
        "<query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>"
    )
    # Before any join: the room answers the session itself, looking up its bare JID.
    assert h.session(PHONE, discover) == [Continue(stanza=discover)]
    h.joined(PHONE)
    register = x(
        "<iq to='lounge@muc.example.net' type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>"
    )
    assert h.session(PHONE, register) == [Send(stanza=register.replace(from_=ALICE, id="mmx-1"))]


MAM_RESULT = (
    "<message from='lounge@muc.example.net' to='alice@example.org'>"
    "<result xmlns='urn:xmpp:mam:2' queryid='{qid}' id='a1'>"
    "<forwarded xmlns='urn:xmpp:forward:0'>"
    "<message xmlns='jabber:client' type='groupchat' from='lounge@muc.example.net/bob'>"
    "<body>old</body></message></forwarded></result></message>"
)


def test_mam_result_after_the_query_timed_out_reaches_no_session() -> None:
    """XEP-0313 §4.1: results are for the session whose query they answer, and only it.

    Once the query timed out nobody waits for them: a late result matches nothing, and is
    not forked to every session in the room under the router's queryid (it was when no
    other IQ was in flight).
    """
    h = Harness()
    h.joined(PHONE, LAPTOP)
    query = "<iq type='set' id='q1' to='lounge@muc.example.net'><query xmlns='urn:xmpp:mam:2' queryid='{qid}'/></iq>"
    assert h.session(PHONE, x(query.format(qid="mine"))) == [
        Send(stanza=x(query.format(qid="mmx-1").replace("id='q1'", "id='mmx-1'")).with_from(ALICE))
    ]
    [timeout] = h.timer(60.0)
    assert isinstance(timeout, Deliver) and timeout.session == PHONE
    late = x(MAM_RESULT.format(qid="mmx-1"))
    assert h.room(late) == [Discard(stanza=late, reason=DiscardReason.UNEXPECTED)]
    # A queryid the router never made is no answer to anything either.
    foreign = x(MAM_RESULT.format(qid="mine"))
    assert h.room(foreign) == [Discard(stanza=foreign, reason=DiscardReason.UNEXPECTED)]


def test_ping_to_an_occupant_the_cache_had_no_room_for_goes_to_the_room() -> None:
    """Config.max_occupants_per_room bounds the cache, not the room: carol is in.

    The router answered 'Recipient not in room' for an occupant whose presence it
    forwarded live but could not cache.
    """
    h = Harness(Router(Config(max_occupants_per_room=1)))
    h.joined(PHONE, others=("bob", "carol"))
    ping = x(PING.format(nick="carol"))
    assert h.session(PHONE, ping) == [Send(stanza=ping.replace(from_=ALICE, id="mmx-1"))]
    # The cache's state survives a snapshot.
    restored = Harness(Router.restore(h.router.snapshot(), now=0.0, sessions=True))
    assert restored.session(PHONE, ping) == [Send(stanza=ping.replace(from_=ALICE, id="mmx-2"))]
