"""Leaving: one session, the last session, a session that disappears (XEP-0045 §7.14)."""

from __future__ import annotations

from helpers import (
    ALICE,
    LAPTOP,
    OTHER_ROOM,
    PHONE,
    ROOM,
    TABLET,
    Harness,
    archived,
    dump,
    forgotten,
    groupchat,
    join,
    occupant,
    self_presence,
    x,
)
from minimix_core import (
    Config,
    Continue,
    Deliver,
    Discard,
    DiscardReason,
    OccupancyState,
    Router,
    Send,
)

LEAVE = "<presence to='lounge@muc.example.net/alice' type='unavailable' id='l1'><status>bye</status></presence>"
ROOM_ANSWER = """
<presence type='unavailable' to='alice@example.org' from='lounge@muc.example.net/alice'>
  <status>bye</status>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item role='none' affiliation='member'/>
    <status code='110'/>
  </x>
</presence>
"""


def test_session_leaving_while_others_stay_gets_its_own_unavailable_and_nothing_is_sent() -> None:
    """XEP-0045 §7.14: 110, role none, its affiliation, its status text; the room sees nothing."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    assert h.session(LAPTOP, x(LEAVE)) == [
        Deliver(
            session=LAPTOP,
            stanza=x(
                """
                <presence type='unavailable' from='lounge@muc.example.net/alice'
                          to='alice@example.org/laptop' id='l1'>
                  <status>bye</status>
                  <x xmlns='http://jabber.org/protocol/muc#user'>
                    <item affiliation='member' role='none'/>
                    <status code='110'/>
                  </x>
                </presence>
                """
            ),
        )
    ]
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert list(occ.attached) == [PHONE]
    assert LAPTOP not in h.router._core.table.accounts[ALICE].sessions
    # Room traffic no longer reaches the session that left.
    message = groupchat("still here?")
    assert h.room(message) == [
        archived(message),
        Deliver(session=PHONE, stanza=message.with_to(PHONE)),
    ]


def test_synthesized_unavailable_keeps_occupant_id_and_real_jid_item() -> None:
    """XEP-0421: the room's occupant-id is on the self-presence; Prosody keeps it on leave."""
    h = Harness()
    h.session(PHONE, join())
    me = x(
        """
        <presence to='alice@example.org' from='lounge@muc.example.net/alice'>
          <occupant-id xmlns='urn:xmpp:occupant-id:0' id='eZXX'/>
          <x xmlns='http://jabber.org/protocol/muc#user'>
            <item role='moderator' affiliation='owner' jid='alice@example.org'/>
            <status code='110'/>
          </x>
        </presence>
        """
    )
    h.room(me)
    h.session(LAPTOP, join(jid="j2"))
    leave = x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>")
    assert h.session(LAPTOP, leave) == [
        Deliver(
            session=LAPTOP,
            stanza=x(
                """
                <presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org/laptop'>
                  <occupant-id xmlns='urn:xmpp:occupant-id:0' id='eZXX'/>
                  <x xmlns='http://jabber.org/protocol/muc#user'>
                    <item role='none' affiliation='owner' jid='alice@example.org'/>
                    <status code='110'/>
                  </x>
                </presence>
                """
            ),
        )
    ]


def test_last_session_leaving_makes_the_account_leave_and_gets_the_rooms_answer() -> None:
    """XEP-0045 §7.14: the unavailable goes from the bare JID; the 110 answer reaches the session."""
    h = Harness()
    h.joined(PHONE)
    assert h.session(PHONE, x(LEAVE)) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' "
                "type='unavailable' id='l1'><status>bye</status></presence>"
            )
        )
    ]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].state is OccupancyState.LEAVING
    answer = x(ROOM_ANSWER)
    assert h.room(answer) == [Deliver(session=PHONE, stanza=answer.with_to(PHONE))]
    assert h.router._core.table.accounts[ALICE].rooms == {}
    # Afterwards the room is not ours: its traffic continues to normal routing.
    late = groupchat("bye")
    assert h.room(late) == [Continue(stanza=late)]
    assert forgotten(h)


def test_traffic_between_the_leave_and_its_answer_still_reaches_the_leaving_session() -> None:
    """A direct client sees what the room sent before it processed the leave; the account
    was still an occupant, so its archive has the message too, once."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(LEAVE))
    message = groupchat("in flight")
    assert h.room(message) == [
        archived(message),
        Deliver(session=PHONE, stanza=message.with_to(PHONE)),
    ]
    assert h.room(message) == [Discard(stanza=message, reason=DiscardReason.DUPLICATE)]


def test_unavailable_from_a_session_not_in_the_room_gets_no_answer() -> None:
    """Prosody (fixture g, finding 15): a second unavailable is met with silence."""
    h = Harness()
    h.joined(PHONE)
    leave = x(LEAVE)
    assert h.session(TABLET, leave) == [Discard(stanza=leave, reason=DiscardReason.NOT_IN_ROOM)]
    h.session(PHONE, leave)
    assert h.session(PHONE, leave) == [Discard(stanza=leave, reason=DiscardReason.NOT_IN_ROOM)]


def test_unavailable_to_a_room_the_account_is_not_in_continues() -> None:
    """Not the router's room: normal routing (directed presence) as without the router."""
    h = Harness()
    leave = x(LEAVE)
    assert h.session(PHONE, leave) == [Continue(stanza=leave)]


def test_session_closed_detaches_silently_and_last_one_leaves() -> None:
    """XEP-0198 timeout or stream close: detach from every room; the account leaves when alone."""
    h = Harness(Router(Config(disconnect_grace=0)))
    h.joined(PHONE, LAPTOP)
    h.joined(PHONE, room=OTHER_ROOM)
    assert h.closed(LAPTOP) == []
    actions = h.closed(PHONE)
    assert actions == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-1'/>"
            )
        ),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='garden@muc.example.net/alice' type='unavailable' id='mmx-2'/>"
            )
        ),
    ]
    answer = x(ROOM_ANSWER)
    assert h.room(answer) == [Discard(stanza=answer, reason=DiscardReason.NO_SESSION)]
    assert list(h.router._core.table.accounts[ALICE].rooms) == [OTHER_ROOM]


def test_broadcast_unavailable_detaches_and_continues() -> None:
    """RFC 6121 §4.5.2: the presence still goes to contacts; the rooms lose the session."""
    h = Harness(Router(Config(disconnect_grace=0)))
    h.joined(PHONE, LAPTOP)
    offline = x("<presence type='unavailable'><status>gone</status></presence>")
    assert h.session(LAPTOP, offline) == [Continue(stanza=offline)]
    assert list(h.router._core.table.accounts[ALICE].rooms[ROOM].attached) == [PHONE]
    assert h.session(PHONE, offline) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-1'/>"
            )
        ),
        Continue(stanza=offline),
    ]


def test_broadcast_presence_from_an_unknown_account_continues() -> None:
    """A session with no rooms: nothing to do but route its presence."""
    h = Harness()
    for text in ("<presence type='unavailable'/>", "<presence><show>away</show></presence>"):
        stanza = x(text)
        assert h.session(PHONE, stanza) == [Continue(stanza=stanza)]
    assert forgotten(h)


def test_session_closed_for_an_unknown_session_changes_nothing() -> None:
    """A session that never joined a room: nothing to detach."""
    h = Harness()
    h.joined(PHONE)
    before = dump(h.router)
    assert h.closed(TABLET) == []
    assert dump(h.router) == before


def test_pending_session_leaving_while_others_wait() -> None:
    """A session may give up before the room answered; the others still join."""
    h = Harness()
    h.session(PHONE, join())
    h.session(LAPTOP, join(jid="j2"))
    leave = x("<presence to='lounge@muc.example.net/alice' type='unavailable' id='bye'/>")
    assert h.session(LAPTOP, leave) == [
        Deliver(
            session=LAPTOP,
            stanza=x(
                "<presence type='unavailable' from='lounge@muc.example.net/alice' "
                "to='alice@example.org/laptop' id='bye'><x xmlns='http://jabber.org/protocol/muc#user'>"
                "<item affiliation='none' role='none'/><status code='110'/></x></presence>"
            ),
        )
    ]
    me = self_presence()
    assert h.room(me) == [Deliver(session=PHONE, stanza=me.with_to(PHONE))]


def test_only_pending_session_leaving_makes_the_account_leave_during_the_join() -> None:
    """The room processes join then leave in order; the session sees both answers."""
    h = Harness()
    h.session(PHONE, join())
    leave = x("<presence to='lounge@muc.example.net/alice' type='unavailable' id='bye'/>")
    assert h.session(PHONE, leave) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' "
                "type='unavailable' id='bye'/>"
            )
        )
    ]
    bob = occupant("bob")
    me = self_presence()
    answer = x(ROOM_ANSWER)
    assert h.room(bob) == [Deliver(session=PHONE, stanza=bob.with_to(PHONE))]
    assert h.room(me) == [Deliver(session=PHONE, stanza=me.with_to(PHONE))]
    assert h.room(answer) == [Deliver(session=PHONE, stanza=answer.with_to(PHONE))]
    assert forgotten(h)


def test_join_during_leave_rejoins_after_the_rooms_answer() -> None:
    """A session joining while the account leaves: the leave completes, then a fresh join."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(LEAVE))
    assert h.session(LAPTOP, join(jid="again")) == []
    answer = x(ROOM_ANSWER)
    assert h.room(answer) == [
        Deliver(session=PHONE, stanza=answer.with_to(PHONE)),
        Send(stanza=join(jid="again").with_from(ALICE)),
    ]
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert occ.state is OccupancyState.JOINING
    assert list(occ.pending) == [LAPTOP]
    assert occ.view.occupants == {}
    assert occ.view.subject is None
    assert list(h.router._core.table.accounts[ALICE].sessions) == [LAPTOP]


def test_leaving_session_that_joins_again_gets_both_answers() -> None:
    """Leave then join from one session: its leave answer first, then its new join sequence."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(LEAVE))
    assert h.session(PHONE, join(jid="back")) == []
    answer = x(ROOM_ANSWER)
    assert h.room(answer) == [
        Deliver(session=PHONE, stanza=answer.with_to(PHONE)),
        Send(stanza=join(jid="back").with_from(ALICE)),
    ]
    me = self_presence(pid="back")
    assert h.room(me) == [Deliver(session=PHONE, stanza=me.with_to(PHONE))]


def test_leaving_session_closing_drops_the_answer_with_a_reason() -> None:
    """Nobody waits for the answer any more: it is discarded, not bounced."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(LEAVE))
    assert h.closed(PHONE) == []
    answer = x(ROOM_ANSWER)
    assert h.room(answer) == [Discard(stanza=answer, reason=DiscardReason.NO_SESSION)]
    assert forgotten(h)


def test_join_refused_after_the_only_session_gave_up_reaches_it() -> None:
    """The session left before the room answered; the room's refusal still answers its join."""
    h = Harness()
    h.session(PHONE, join())
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    refused = x(
        "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    assert h.room(refused) == [Deliver(session=PHONE, stanza=refused.with_to(PHONE))]
    assert forgotten(h)


def test_join_refused_while_leaving_makes_the_account_join_again_for_the_queued_session() -> None:
    """The leaving session gets the refusal; a session that joined meanwhile gets a fresh join."""
    h = Harness()
    h.session(PHONE, join())
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    h.session(LAPTOP, join(jid="l1"))
    refused = x(
        "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    assert h.room(refused) == [
        Deliver(session=PHONE, stanza=refused.with_to(PHONE)),
        Send(stanza=join(jid="l1").with_from(ALICE)),
    ]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].state is OccupancyState.JOINING
