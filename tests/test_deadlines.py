"""Every state that waits for a room has a deadline, and what happens at it is in the table.

Networks lose stanzas: a join, leave or rejoin the room never answers must not leave the
account stuck (RFC 6120 §8.3.3.17 remote-server-timeout; XEP-0045 §7.2, §7.14).
"""

from __future__ import annotations

from helpers import (
    ALICE,
    LAPTOP,
    PHONE,
    ROOM,
    Harness,
    bookmark_lounge,
    join,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import (
    Config,
    Deliver,
    Discard,
    DiscardReason,
    OccupancyState,
    Router,
    Send,
)

S = OccupancyState
SHUTDOWN = (
    "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
    "<status code='110'/><status code='332'/></x></presence>"
)
LATE_AGAIN = (
    "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org' id='l1'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
    "<status code='110'/></x></presence>"
)
"""The same late leave answer again (a duplicate): only stale now."""
TIMEOUT = (
    "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org/phone' id='j1'>"
    "<error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
    "</presence>"
)


def state(h: Harness) -> S | None:
    view = h.router.occupancy(ALICE, ROOM)
    return None if view is None else view.state


def bookmark(h: Harness) -> None:
    bookmark_lounge(h)


def test_an_unanswered_join_times_out_for_the_session_and_the_account_leaves() -> None:
    """Config.join_timeout: the session gets remote-server-timeout; the account leaves in
    case the room admitted it late, so no ghost stays behind."""
    h = Harness()
    h.session(PHONE, join())
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None
    assert view.next_deadline == 60.0
    assert h.timer(60.0) == [
        Deliver(session=PHONE, stanza=x(TIMEOUT)),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-1'/>"
            )
        ),
    ]
    assert state(h) is S.LEAVING
    # Nobody answers the leave either: after Config.leave_timeout it is said once more, in
    # case the room never had it, and waited for as long again; then the account is out.
    assert h.timer(90.0) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-2'/>"
            )
        )
    ]
    assert state(h) is S.LEAVING
    assert h.router.upcoming() == [(120.0, "leave-timeout", ALICE, ROOM)]
    assert h.timer(120.0) == []
    assert state(h) is None
    assert h.router.next_deadline() is None
    assert h.router._core.table.accounts == {}


def test_a_join_repeated_after_the_deadline_starts_again() -> None:
    """The session tries again while the account leaves: its join goes out once the leave
    is over (or timed out), and the room's answer reaches it."""
    h = Harness()
    h.session(PHONE, join())
    h.timer(60.0)
    assert h.session(PHONE, join(jid="j2")) == []
    assert h.timer(90.0) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='j2'>"
                "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
            )
        )
    ]
    assert state(h) is S.JOINING
    me = self_presence(pid="j2")
    assert h.room(me) == [Deliver(session=PHONE, stanza=me.with_to(PHONE))]


def test_a_join_repeated_while_one_is_in_flight_waits_for_the_same_answer() -> None:
    """A repeated join does not delay the deadline or send a second join."""
    h = Harness()
    h.session(PHONE, join())
    h.now = 30.0
    assert h.session(PHONE, join(jid="again")) == []
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None
    assert view.next_deadline == 60.0
    me = self_presence(pid="j1")
    assert h.room(me) == [Deliver(session=PHONE, stanza=me.with_to(PHONE).replace(id="again"))]


def test_an_unanswered_autojoin_is_tried_again_with_back_off() -> None:
    """A bookmarked room always comes back: the join is retried after Config.rejoin_delay,
    doubled for each failed try."""
    h = Harness()
    bookmark(h)
    [first] = h.timer(0.0)
    assert isinstance(first, Send)
    assert h.timer(60.0) == []
    assert state(h) is S.REJOIN_WAIT
    assert h.router.next_deadline() == 70.0
    [again] = h.timer(70.0)
    assert again == Send(stanza=first.stanza.replace(id="mmx-2"))
    assert state(h) is S.REJOIN_SENT


def test_an_unanswered_rejoin_is_tried_again_then_given_up_and_left() -> None:
    """Config.max_rejoin_attempts: a rejoin nobody answers is tried again; at the last try
    the sessions are told they are out (333, XEP-0045 §11.1), and the account leaves
    (§7.14): the room may admit the last join late, and no ghost must stay behind."""
    h = Harness(Router(Config(max_rejoin_attempts=2)))
    h.joined(PHONE)
    h.room(x(SHUTDOWN))
    [rejoin] = h.timer(5.0)
    assert isinstance(rejoin, Send)
    assert h.timer(65.0) == []
    assert state(h) is S.REJOIN_WAIT
    assert h.router.next_deadline() == 75.0
    h.timer(75.0)
    assert state(h) is S.REJOIN_SENT
    out, leave = h.timer(135.0)
    assert out == Deliver(
        session=PHONE,
        stanza=x(
            "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org/phone'>"
            "<status>The room did not answer</status>"
            "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
            "<status code='110'/><status code='333'/></x></presence>"
        ),
    )
    assert leave == Send(
        stanza=x(
            "<presence type='unavailable' from='alice@example.org' "
            "to='lounge@muc.example.net/alice' id='mmx-3'/>"
        )
    )
    assert state(h) is S.LEAVING
    # The room that admitted the late join answers the leave: the account is out.
    left = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org' "
        "id='mmx-3'><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<item affiliation='member' role='none'/><status code='110'/></x></presence>"
    )
    h.room(left)
    assert state(h) is None
    assert h.router.next_deadline() is None


def test_an_unanswered_leave_counts_as_done_and_a_waiting_join_goes_out() -> None:
    """Config.leave_timeout: a room that forgot the account never answers its leave; the
    leaver is told it left, and a session that joined meanwhile is not left in silence."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable' id='l1'/>"))
    h.now = 10.0
    assert h.session(LAPTOP, join(jid="j2")) == []
    actions = h.timer(30.0)
    assert actions == [
        Deliver(
            session=PHONE,
            stanza=x(
                "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org/phone' id='l1'>"
                "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
                "<status code='110'/></x></presence>"
            ),
        ),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='j2'>"
                "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
            )
        ),
    ]
    assert state(h) is S.JOINING


def test_an_autojoin_refused_with_a_wait_error_is_tried_again() -> None:
    """RFC 6120 §8.3.2: type wait means try later; a bookmarked room is not given up."""
    h = Harness()
    bookmark(h)
    h.timer(0.0)
    busy = x(
        "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org' id='mmx-1'>"
        "<error type='wait'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    assert h.room(busy) == [Discard(stanza=busy, reason=DiscardReason.JOIN_REFUSED)]
    assert state(h) is S.REJOIN_WAIT
    assert h.router.next_deadline() == 10.0


def test_a_session_joining_a_bookmarked_room_waiting_for_a_retry_joins_at_once() -> None:
    """The account was never in: nothing to answer from, so the session's join goes out."""
    h = Harness()
    bookmark(h)
    h.timer(0.0)
    h.timer(60.0)  # no answer: retry later
    assert state(h) is S.REJOIN_WAIT
    h.now = 61.0
    assert h.session(PHONE, join()) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='j1'>"
                "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
            )
        )
    ]
    assert state(h) is S.JOINING


def test_the_answer_to_an_earlier_try_is_none_to_the_session_s_join_under_its_own_id() -> None:
    """The autojoin's try (mmx-1) unanswered, a session's join goes out (j1); the room's
    late answer to the try ends a sequence of the room as it was then, and the session's
    own answer lets the account in. Sent again under the same id after its own deadline,
    the session's join is still its own: its answer is no earlier one's."""
    h = Harness()
    bookmark(h)
    h.timer(0.0)
    h.timer(60.0)
    h.now = 61.0
    h.session(PHONE, join())
    earlier = self_presence(pid="mmx-1")
    assert h.room(earlier) == [Discard(stanza=earlier, reason=DiscardReason.STALE)]
    assert state(h) is S.JOINING
    h.timer(121.0)  # j1 unanswered: the session is told, the bookmark tried again later
    assert state(h) is S.REJOIN_WAIT
    h.now = 122.0
    assert [type(a) for a in h.session(PHONE, join())] == [Send]  # j1 again
    me = self_presence(pid="j1")
    assert h.room(me) == [Deliver(session=PHONE, stanza=me.with_to(PHONE))]
    assert state(h) is S.JOINED  # a fresh view since the deadline: nothing to ask again


def test_a_session_joining_while_a_bookmarked_room_is_retried_takes_the_answer() -> None:
    """The retry is in flight: the session waits for its answer instead of sending another."""
    h = Harness()
    bookmark(h)
    h.timer(0.0)
    h.timer(60.0)
    h.timer(70.0)  # the retry, id mmx-2
    assert state(h) is S.REJOIN_SENT
    h.now = 71.0
    assert h.session(PHONE, join()) == []
    assert state(h) is S.JOINING
    me = self_presence(pid="mmx-2")
    assert h.room(me) == [Deliver(session=PHONE, stanza=me.with_to(PHONE).replace(id="j1"))]


def test_a_session_joining_during_the_rejoin_delay_makes_the_rejoin_go_now_and_waits() -> None:
    """XEP-0045 §7.2.15: the session waits for the rejoin, which goes at once rather than
    after Config.rejoin_delay, and is answered at its subject in §7.1 order."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    h.room(x(SHUTDOWN))
    h.now = 1.0
    [rejoin] = h.session(LAPTOP, join(jid="late"))
    assert isinstance(rejoin, Send) and rejoin.stanza.id == "mmx-1"
    assert state(h) is S.REJOIN_SENT
    assert h.router.next_deadline() == 1.0 + Config().join_timeout
    h.room(occupant("bob"))
    h.room(self_presence(pid="mmx-1"))
    assert h.room(subject()) == [
        Discard(stanza=subject(), reason=DiscardReason.RESYNC),
        Deliver(session=LAPTOP, stanza=occupant("bob", to=LAPTOP)),
        Deliver(session=LAPTOP, stanza=self_presence(pid="late").with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP)),
    ]


def test_a_bookmarked_room_shutting_down_during_the_join_tells_the_waiting_session() -> None:
    """XEP-0045 §11.2: 332 during a join; the session learns it, the bookmark retries."""
    h = Harness()
    bookmark(h)
    h.session(PHONE, join())
    h.now = 1.0
    shutdown = x(SHUTDOWN)
    assert h.room(shutdown) == [Deliver(session=PHONE, stanza=shutdown.with_to(PHONE))]
    assert state(h) is S.REJOIN_WAIT


def test_a_late_leave_answer_ends_what_the_sessions_saw_of_the_old_occupancy() -> None:
    """XEP-0045 §7.1, §7.14: the room answers in order. The leave timed out and the account
    joined again for a waiting session; the room then answers the leave: the occupants
    shown so far belonged to the occupancy before, and the session sees them go."""
    h = Harness()
    h.joined(PHONE, others=())
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable' id='l1'/>"))
    h.now = 10.0
    h.session(LAPTOP, join(jid="j2"))
    h.timer(30.0)  # the leave times out: the laptop's join goes out
    assert state(h) is S.JOINING
    bob = occupant("bob")
    assert h.room(bob) == [Deliver(session=LAPTOP, stanza=bob.with_to(LAPTOP))]
    late = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org' id='l1'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
        "<status code='110'/></x></presence>"
    )
    bob_gone = x(
        "<presence type='unavailable' from='lounge@muc.example.net/bob' to='alice@example.org/laptop'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"
    )
    assert h.room(late) == [
        Discard(stanza=late, reason=DiscardReason.STALE),
        Deliver(session=LAPTOP, stanza=bob_gone),
    ]
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None and view.occupants == ()
    again = x(LATE_AGAIN)
    assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.STALE)]


def test_a_device_back_during_the_second_leave_joins_after_its_answer() -> None:
    """XEP-0045 §7.14, §7.2: the room took the second leave; what it sent the account
    before answering it (carol's presence) belongs to the old occupancy. The device that
    joined meanwhile joins after the answer and sees only who is there then."""
    h = Harness()
    h.joined(PHONE, others=("bob", "carol"))
    leave = f"<presence to='{ROOM}/alice' type='unavailable' id='u1'/>"
    assert h.session(PHONE, x(leave)) == [Send(stanza=x(leave).with_from(ALICE))]
    told, again = h.timer(h.now + 30.0)
    assert told == Deliver(
        session=PHONE,
        stanza=x(
            f"<presence from='{ROOM}/alice' to='{PHONE}' type='unavailable' id='u1'>"
            "<x xmlns='http://jabber.org/protocol/muc#user'>"
            "<item affiliation='member' role='none'/><status code='110'/></x></presence>"
        ),
    )
    assert again == Send(
        stanza=x(f"<presence from='{ALICE}' to='{ROOM}/alice' type='unavailable' id='mmx-1'/>")
    )
    assert h.session(PHONE, join(jid="j9")) == []  # waits for the room's answer
    carol = occupant("carol")
    assert h.room(carol) == [Discard(stanza=carol, reason=DiscardReason.NO_SESSION)]
    answer = self_presence().replace(type="unavailable", id="mmx-1")
    assert h.room(answer) == [
        Discard(stanza=answer, reason=DiscardReason.NO_SESSION),
        Send(stanza=join(jid="j9").with_from(ALICE)),
    ]
    h.room(occupant("bob"))
    h.room(self_presence(pid="j9"))
    h.room(subject())
    late = [a.stanza.from_ for a in h.session(LAPTOP, join(jid="j3")) if isinstance(a, Deliver)]
    assert late == [ROOM.with_resource("bob"), ROOM.with_resource("alice"), ROOM]


def test_a_device_waiting_during_the_second_leave_is_told_its_message_cannot_go() -> None:
    """XEP-0045 §7.4: the device that came back waits for the leave's answer, not in the
    room yet. Its groupchat is refused as the room refuses a non-occupant's, nothing sent:
    sent, the room's error for it came back while nobody was its audience and was
    discarded as stale, and the device never learnt that its message was lost."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(f"<presence to='{ROOM}/alice' type='unavailable' id='u1'/>"))
    h.timer(30.0)  # no answer: the leave is said once more
    assert h.session(LAPTOP, join(jid="j7")) == []
    said = x(f"<message to='{ROOM}' type='groupchat' id='g1'><body>back</body></message>")
    assert h.session(LAPTOP, said) == [
        Deliver(
            session=LAPTOP,
            stanza=x(
                f"""
                <message type='error' to='{LAPTOP}' from='{ROOM}' id='g1'>
                  <error type='cancel'>
                    <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
                    <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>You are not currently connected to this chat</text>
                  </error>
                </message>
                """
            ),
        )
    ]
    assert state(h) is S.LEAVING
