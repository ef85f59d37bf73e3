"""A session joining while the account rejoins: waiting to, the rejoin in flight, or its join
sequence still arriving (XEP-0045 §7.2.15, §7.1)."""

from __future__ import annotations

import json

from helpers import (
    ALICE,
    LAPTOP,
    PHONE,
    ROOM,
    Harness,
    archived,
    bookmark_lounge,
    groupchat,
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
    BookmarksChanged,
    Config,
    Deliver,
    Discard,
    DiscardReason,
    OccupancyState,
    Router,
    Send,
    Stanza,
    Unattended,
)

NOT_JOINED = (
    "<iq type='error' from='lounge@muc.example.net/alice' to='alice@example.org' id='{id}'>"
    "<error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
)
STAMP = "2027-01-15T08:00:00Z"


SEEN = groupchat("seen", mid="m1", stamp=STAMP)
MISSED = groupchat("missed", mid="m2", stamp="2027-01-15T08:10:00Z")


def late_self(
    jid: str = "j2", session: JID = LAPTOP, codes: str = "<status code='110'/>"
) -> Stanza:
    """The self-presence a late joiner gets from the table: 110, its own join id."""
    return x(
        f"<presence from='lounge@muc.example.net/alice' to='{session}' id='{jid}'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/>"
        f"{codes}</x></presence>"
    )


def answer(session: JID = LAPTOP, jid: str = "j2", *, missed: bool = True) -> list[Deliver]:
    """The whole late-join answer, in §7.2.15 order, with what the rejoin brought."""
    history = [SEEN, MISSED] if missed else [SEEN]
    return [
        Deliver(session=session, stanza=occupant("bob").with_to(session)),
        Deliver(session=session, stanza=late_self(jid, session)),
        *[Deliver(session=session, stanza=m.with_to(session)) for m in history],
        Deliver(session=session, stanza=subject().with_to(session)),
    ]


def occ(h: Harness):  # type: ignore[no-untyped-def]
    return h.router._core.table.accounts[ALICE].rooms[ROOM]


def resyncing(h: Harness) -> None:
    """PHONE in the room, one message seen; the room forgets the account, which rejoins and
    has the room's new self-presence: the rejoin's history and subject are still to come."""
    h.now = 1_800_000_000.0
    h.joined(PHONE)
    h.room(groupchat("seen", mid="m1"))
    [ping] = h.timer(h.now + 900)
    assert isinstance(ping, Send)
    [_, rejoin] = h.room(x(NOT_JOINED.format(id=ping.stanza.id)))
    assert isinstance(rejoin, Send)
    h.room(occupant("bob"))
    h.room(self_presence(pid=rejoin.stanza.id))
    occupancy = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert occupancy.state is OccupancyState.JOINED
    assert occupancy.resync is not None


def test_a_join_during_the_rejoin_s_sequence_is_answered_in_order_when_the_subject_ends_it() -> (
    None
):
    """XEP-0045 §7.2.15: presences, self-presence, history, then the subject, which ends the
    join sequence; a message the rejoin's history brings comes before it, not after."""
    h = Harness()
    resyncing(h)
    assert h.session(LAPTOP, join(jid="j2")) == []
    seen = groupchat("seen", mid="m1", stamp=STAMP)
    assert h.room(seen) == [Discard(stanza=seen, reason=DiscardReason.RESYNC)]
    missed = groupchat("missed", mid="m2", stamp="2027-01-15T08:10:00Z")
    assert h.room(missed) == [
        archived(missed),
        Deliver(session=PHONE, stanza=missed.with_to(PHONE)),
    ]
    same = subject()
    kept_seen = groupchat("seen", mid="m1", stamp=STAMP).with_to(LAPTOP)
    assert h.room(same) == [
        Discard(stanza=same, reason=DiscardReason.RESYNC),
        Deliver(session=LAPTOP, stanza=occupant("bob").with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=late_self()),
        Deliver(session=LAPTOP, stanza=kept_seen),
        Deliver(session=LAPTOP, stanza=missed.with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP)),
    ]
    # Attached now: live traffic reaches it as it reaches the phone.
    live = groupchat("live", mid="m3")
    assert h.room(live) == [
        archived(live),
        Deliver(session=PHONE, stanza=live.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=live.with_to(LAPTOP)),
    ]


def test_the_resync_deadline_answers_a_waiting_join_when_no_subject_comes() -> None:
    """§7.2.15, Config.resync_timeout: a lost subject ends the wait at the resync's
    deadline, no later; the answer has what the rejoin brought, the known subject last."""
    h = Harness()
    resyncing(h)
    assert h.session(LAPTOP, join(jid="j2")) == []
    assert h.room(SEEN) == [Discard(stanza=SEEN, reason=DiscardReason.RESYNC)]
    assert h.room(MISSED) == [
        archived(MISSED),
        Deliver(session=PHONE, stanza=MISSED.with_to(PHONE)),
    ]
    assert h.router.next_deadline() == h.now + 60.0
    assert h.timer(h.now + 60.0) == answer()
    assert occ(h).resync is None
    assert LAPTOP in occ(h).attached


def test_a_stanza_after_the_resync_deadline_comes_after_the_waiting_join_s_answer() -> None:
    """§7.2.15: the host may hand over a stanza before running the resync's timer; the
    waiting session is answered first, then gets the stanza live like the others."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    h.now += 61.0
    live = groupchat("live", mid="m5")
    assert h.room(live) == [
        *answer(missed=False),
        archived(live),
        Deliver(session=PHONE, stanza=live.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=live.with_to(LAPTOP)),
    ]


def test_an_attached_session_re_sending_its_join_waits_too_and_nothing_is_pushed() -> None:
    """§7.2.1, §7.2.15: a repeated join is a join: answered whole, in order, at the end. A
    live message meanwhile goes into its answer, not to push as if nobody were there."""
    h = Harness()
    resyncing(h)
    assert h.session(PHONE, join(jid="j9")) == []
    live = groupchat("live", mid="m5")
    assert h.room(live) == [archived(live), Discard(stanza=live, reason=DiscardReason.NO_SESSION)]
    [*_, last_line] = answer(PHONE, "j9", missed=False)
    sent = h.room(subject())
    assert sent[0] == Discard(stanza=subject(), reason=DiscardReason.RESYNC)
    assert [a.stanza.id for a in sent[3:5] if isinstance(a, Deliver)] == ["m1", "m5"]
    assert sent[-1] == last_line
    assert len(sent) == 6


def test_a_waiting_session_that_leaves_gets_its_unavailable_and_nothing_after() -> None:
    """§7.14: it leaves before its join was answered; the others stay, nothing goes to the
    room, and the end of the sequence owes it nothing."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    assert h.session(LAPTOP, leave()) == [
        Deliver(
            session=LAPTOP,
            stanza=x(
                "<presence from='lounge@muc.example.net/alice' to='alice@example.org/laptop' type='unavailable' id='bye'>"
                "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
                "<status code='110'/></x></presence>"
            ),
        )
    ]
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]
    assert list(occ(h).attached) == [PHONE]
    assert not occ(h).pending


def test_a_waiting_session_that_closes_is_forgotten_and_keeps_its_place() -> None:
    """A session closed before its answer: nothing for it, nothing at the subject. A
    device back within Config.device_memory is not counted as having had what it never got."""
    h = Harness()
    resyncing(h)
    account = h.router._core.table.accounts[ALICE]
    account.memory[ROOM].positions[LAPTOP] = (0, h.now)  # it had seen nothing
    h.session(LAPTOP, join(jid="j2"))
    assert h.closed(LAPTOP) == []
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]
    assert account.memory[ROOM].positions[LAPTOP] == (0, h.now)
    assert LAPTOP not in account.sessions


def test_a_kick_during_the_wait_reaches_the_waiting_session_too() -> None:
    """§8.2: removed, the account is out; the session that waited gets the removal as its
    answer, with 110, as every attached one."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    kick = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
        "<status code='307'/><status code='110'/></x></presence>"
    )
    assert h.room(kick) == [
        Deliver(session=PHONE, stanza=kick.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=kick.with_to(LAPTOP)),
    ]
    assert h.router._core.table.accounts[ALICE].rooms == {}


def test_a_shutdown_during_the_wait_answers_the_waiting_session_as_the_others_stay() -> None:
    """§11.1: 332 is not the account's fault: the sessions stay attached, noticing nothing,
    while the account waits to rejoin; the waiting one is answered from the table first."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    shutdown = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
        "<status code='332'/><status code='110'/></x></presence>"
    )
    assert h.room(shutdown) == [
        *answer(missed=False),
        Discard(stanza=shutdown, reason=DiscardReason.REJOINING),
    ]
    assert occ(h).state is OccupancyState.REJOIN_WAIT
    assert list(occ(h).attached) == [PHONE, LAPTOP]


def test_the_room_losing_the_account_again_answers_the_waiting_session_before_the_rejoin() -> None:
    """XEP-0410 §1, §7.2.14: a message refused as from no occupant ends the sequence; the
    waiting session gets its answer from the table, then the account joins again."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    refused = x(
        "<message type='error' from='lounge@muc.example.net' to='alice@example.org' id='zz'>"
        "<error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    )
    actions = h.room(refused)
    assert actions[0] == Deliver(session=PHONE, stanza=refused.with_to(PHONE))
    assert actions[1:-1] == answer(missed=False)
    assert isinstance(actions[-1], Send)
    assert occ(h).state is OccupancyState.REJOIN_SENT


def test_the_room_gone_during_the_wait_tells_the_waiting_session_with_333() -> None:
    """Fixtures finding 8, §11.1: the keep-alive finds the room gone; every session, the
    waiting one too, gets its unavailable with 110 and 333."""
    h = Harness(Router(Config(resync_timeout=2000.0)))
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    [ping] = h.timer(h.now + 900)
    assert isinstance(ping, Send)
    gone = x(
        f"<iq type='error' from='lounge@muc.example.net/alice' to='alice@example.org' id='{ping.stanza.id}'>"
        "<error type='cancel' by='muc.example.net'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    actions = h.room(gone)
    assert actions[0] == Discard(stanza=gone, reason=DiscardReason.KEEPALIVE)
    assert [a.session for a in actions[1:] if isinstance(a, Deliver)] == [PHONE, LAPTOP]
    for told in actions[1:]:
        assert isinstance(told, Deliver)
        assert "333" in str(told.stanza)
    assert h.router._core.table.accounts[ALICE].rooms == {}


def test_a_restart_during_the_wait_forgets_the_waiting_session() -> None:
    """Router.restore(sessions=False): the sessions are gone, the waiting one too; the
    restored room owes it nothing."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    restored = Router.restore(json.loads(json.dumps(h.router.snapshot())), now=h.now)
    view = restored.occupancy(ALICE, ROOM)
    assert view is not None
    assert view.attached == () and view.pending == ()


def test_a_moved_account_answers_its_waiting_session_at_the_subject() -> None:
    """Router.restore(sessions=True): carried on exactly, the wait and its deadline too."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    h.room(SEEN)
    h.room(MISSED)
    deadline = h.router.next_deadline()
    h.router = Router.restore(json.loads(json.dumps(h.router.snapshot())), now=h.now, sessions=True)
    assert h.router.next_deadline() == deadline
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC), *answer()]


def test_a_nick_change_while_waiting_is_refused_and_a_status_change_is_kept() -> None:
    """§7.6 (RFC 6120 §8.3.3.18): no nick change before the join is answered, busy, ask
    again; §7.7: a status change is carried by the update after the answer."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    rename = x("<presence to='lounge@muc.example.net/other' id='n1'/>")
    assert h.session(LAPTOP, rename) == [
        Deliver(
            session=LAPTOP,
            stanza=x(
                "<presence from='lounge@muc.example.net/other' to='alice@example.org/laptop' type='error' id='n1'>"
                "<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
            ),
        )
    ]
    chatty = x("<presence to='lounge@muc.example.net/alice' id='c1'><show>chat</show></presence>")
    assert h.session(LAPTOP, chatty) == [Discard(stanza=chatty, reason=DiscardReason.HELD)]
    assert h.room(subject()) == [
        Discard(stanza=subject(), reason=DiscardReason.RESYNC),
        *answer(missed=False),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice'><show>chat</show></presence>"
            )
        ),
    ]


def test_a_join_re_sent_with_another_nick_while_waiting_is_answered_with_210() -> None:
    """§7.2.1, nick_policy="account": the latest join counts; the answer names the
    account's nick with 210, under that join's id."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    assert h.session(LAPTOP, join(nick="lappy", jid="j3")) == []
    sent = h.room(subject())
    assert sent[2] == Deliver(
        session=LAPTOP,
        stanza=late_self("j3", codes="<status code='110'/><status code='210'/>"),
    )
    assert len(sent) == 5


def test_a_waiting_join_with_another_nick_under_follow_asks_the_room_after_its_answer() -> None:
    """nick_policy="follow" (§7.6): answered under the account's nick with 210, then the
    account asks the room for the session's nick."""
    h = Harness(Router(Config(nick_policy="follow")))
    resyncing(h)
    h.session(LAPTOP, join(nick="lappy", jid="j3"))
    sent = h.room(subject())
    assert sent[-1] == Send(
        stanza=x("<presence from='alice@example.org' to='lounge@muc.example.net/lappy' id='j3'/>")
    )
    assert sent[-2] == Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP))


# Earlier in the rejoin: waiting to rejoin (rejoin-wait), or the rejoin in flight
# (rejoin-sent). The session waits for the rejoin as above; in rejoin-wait its join makes
# the rejoin go at once, not after the back-off.

SHUTDOWN = x(
    "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
    "<status code='110'/><status code='332'/></x></presence>"
)
REJOIN = x(
    "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='mmx-1'>"
    f"<x xmlns='http://jabber.org/protocol/muc'><history since='{STAMP}'/></x></presence>"
)
UNAVAILABLE_333 = (
    "<presence from='lounge@muc.example.net/alice' to='{to}' type='unavailable'>"
    "<status>{text}</status><x xmlns='http://jabber.org/protocol/muc#user'>"
    "<item affiliation='member' role='none'/><status code='110'/><status code='333'/></x>"
    "</presence>"
)


def shut_down(h: Harness) -> None:
    """PHONE in the room, one message seen; the room shuts down (332, §11.1): the account
    waits to rejoin (rejoin-wait), the phone attached, noticing nothing."""
    h.now = 1_800_000_000.0
    h.joined(PHONE)
    h.room(groupchat("seen", mid="m1"))
    assert h.room(SHUTDOWN) == [Discard(stanza=SHUTDOWN, reason=DiscardReason.REJOINING)]
    assert occ(h).state is OccupancyState.REJOIN_WAIT


def waiting_for_the_rejoin(h: Harness) -> None:
    """:func:`shut_down`, then the laptop joins: the rejoin goes at once, the laptop waits."""
    shut_down(h)
    h.now += 2.0
    assert h.session(LAPTOP, join(jid="j2")) == [Send(stanza=REJOIN)]
    assert occ(h).state is OccupancyState.REJOIN_SENT
    assert list(occ(h).pending) == [LAPTOP]


def the_rejoin_answered(h: Harness) -> None:
    """The room answers the rejoin: bob, the self-presence, m1 again, m2 missed (both with
    <delay/>), the subject; the laptop's whole answer comes last, m2 before its subject."""
    assert h.room(occupant("bob")) == [Discard(stanza=occupant("bob"), reason=DiscardReason.RESYNC)]
    back = self_presence(pid="mmx-1")
    assert h.room(back) == [Discard(stanza=back, reason=DiscardReason.RESYNC)]
    assert h.room(SEEN) == [Discard(stanza=SEEN, reason=DiscardReason.RESYNC)]
    assert h.room(MISSED) == [
        archived(MISSED),
        Deliver(session=PHONE, stanza=MISSED.with_to(PHONE)),
    ]
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC), *answer()]
    assert list(occ(h).attached) == [PHONE, LAPTOP]
    assert not occ(h).pending


def test_a_join_while_waiting_to_rejoin_rejoins_now_and_is_answered_in_order() -> None:
    """XEP-0045 §11.1, §7.2.15: after a 332 a session joins before the back-off ends. Its
    join makes the account rejoin at once, and it is answered at the rejoin's subject:
    occupants, self-presence, history with what the rejoin brought, the subject last."""
    h = Harness()
    waiting_for_the_rejoin(h)
    assert h.router.next_deadline() == h.now + 60.0  # the rejoin's own deadline
    the_rejoin_answered(h)


def test_a_join_while_the_rejoin_is_in_flight_waits_and_is_answered_in_order() -> None:
    """XEP-0045 §7.2.15: the rejoin is out when the session joins; it waits, and the
    rejoin's subject answers it, the missed message before that subject."""
    h = Harness()
    shut_down(h)
    assert h.timer(h.now + 5.0) == [Send(stanza=REJOIN)]
    assert h.session(LAPTOP, join(jid="j2")) == []
    assert occ(h).state is OccupancyState.REJOIN_SENT
    the_rejoin_answered(h)


def test_a_rejoin_refused_for_now_answers_the_waiting_session_from_the_table() -> None:
    """§7.2 (a transient error): the account waits to try again and the sessions stay
    attached; the waiting one is answered from the table, not kept through the back-off."""
    h = Harness()
    waiting_for_the_rejoin(h)
    refused = x(
        "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org' id='mmx-1'>"
        "<error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    assert h.room(refused) == [
        Discard(stanza=refused, reason=DiscardReason.REJOINING),
        *answer(missed=False),
    ]
    assert occ(h).state is OccupancyState.REJOIN_WAIT
    assert list(occ(h).attached) == [PHONE, LAPTOP]
    assert not occ(h).pending


def test_a_rejoin_unanswered_by_its_deadline_answers_the_waiting_session_from_the_table() -> None:
    """Config.join_timeout: the rejoin counts as failed and is tried again later; the
    waiting session is answered from the table, attached like the others."""
    h = Harness()
    waiting_for_the_rejoin(h)
    assert h.timer(h.now + 60.0) == answer(missed=False)
    assert occ(h).state is OccupancyState.REJOIN_WAIT
    assert list(occ(h).attached) == [PHONE, LAPTOP]


def test_a_rejoin_refused_for_good_tells_the_waiting_session_it_is_out() -> None:
    """§7.2.8 (registration-required), §11.1: every session, the waiting one too, gets
    its unavailable with 110 and 333; the router forgets the room."""
    h = Harness()
    waiting_for_the_rejoin(h)
    refused = x(
        "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org' id='mmx-1'>"
        "<error type='auth'><registration-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    text = "Could not rejoin the room: registration-required"
    assert h.room(refused) == [
        Discard(stanza=refused, reason=DiscardReason.REJOINING),
        Deliver(session=PHONE, stanza=x(UNAVAILABLE_333.format(to=PHONE, text=text))),
        Deliver(session=LAPTOP, stanza=x(UNAVAILABLE_333.format(to=LAPTOP, text=text))),
    ]
    account = h.router._core.table.accounts[ALICE]
    assert account.rooms == {} and account.sessions == {}


def test_the_last_rejoin_attempt_failing_tells_the_waiting_session_it_is_out() -> None:
    """Config.max_rejoin_attempts, §11.1: out of tries, every session, the waiting one
    too, gets 333; the last try unanswered, the account leaves in case it was admitted."""
    h = Harness(Router(Config(max_rejoin_attempts=1)))
    waiting_for_the_rejoin(h)
    text = "The room did not answer"
    assert h.timer(h.now + 60.0) == [
        Deliver(session=PHONE, stanza=x(UNAVAILABLE_333.format(to=PHONE, text=text))),
        Deliver(session=LAPTOP, stanza=x(UNAVAILABLE_333.format(to=LAPTOP, text=text))),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-2'/>"
            )
        ),
    ]
    assert occ(h).state is OccupancyState.LEAVING
    assert not occ(h).attached and not occ(h).pending and not occ(h).leaving
    assert LAPTOP not in h.router._core.table.accounts[ALICE].sessions


def test_the_last_rejoin_attempt_failing_tells_a_lone_waiting_session_and_the_bookmark_stays() -> (
    None
):
    """Config.max_rejoin_attempts, XEP-0402 autojoin: nobody attached, the laptop alone
    waits for the rejoin; out of tries it gets 333, and the bookmark's room is still
    tried later."""
    h = Harness(Router(Config(max_rejoin_attempts=1)))
    h.now = 1_800_000_000.0
    bookmark_lounge(h)
    h.joined(PHONE)
    h.timer(h.now)
    h.room(groupchat("seen", mid="m1"))
    h.closed(PHONE)  # the bookmark keeps the account in
    h.room(SHUTDOWN)
    [rejoin] = h.session(LAPTOP, join(jid="j2"))
    assert isinstance(rejoin, Send)
    text = "The room did not answer"
    assert h.timer(h.now + 60.0) == [
        Deliver(session=LAPTOP, stanza=x(UNAVAILABLE_333.format(to=LAPTOP, text=text))),
    ]
    assert occ(h).state is OccupancyState.REJOIN_WAIT
    assert not occ(h).attached and not occ(h).pending
    assert h.router.next_deadline() == h.now + 10.0  # rejoin_delay, doubled once


def test_a_shutdown_again_while_the_rejoin_is_in_flight_answers_the_waiting_session() -> None:
    """§11.1: 332 again; not the account's fault, the sessions stay attached and the
    account waits to rejoin; the waiting session is answered from the table first."""
    h = Harness()
    waiting_for_the_rejoin(h)
    assert h.room(SHUTDOWN) == [
        *answer(missed=False),
        Discard(stanza=SHUTDOWN, reason=DiscardReason.REJOINING),
    ]
    assert occ(h).state is OccupancyState.REJOIN_WAIT
    assert list(occ(h).attached) == [PHONE, LAPTOP]


def test_a_kick_while_the_rejoin_is_in_flight_reaches_the_waiting_session_too() -> None:
    """§8.2: removed, the account is out; the waiting session gets the removal with 110,
    as the attached one."""
    h = Harness()
    waiting_for_the_rejoin(h)
    kick = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
        "<status code='307'/><status code='110'/></x></presence>"
    )
    assert h.room(kick) == [
        Deliver(session=PHONE, stanza=kick.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=kick.with_to(LAPTOP)),
    ]
    assert h.router._core.table.accounts[ALICE].rooms == {}


def test_a_session_waiting_for_the_rejoin_that_leaves_gets_its_unavailable_and_nothing_after() -> (
    None
):
    """§7.14: it leaves before the rejoin answered it; the phone stays, nothing goes to the
    room, and the rejoin's subject owes it nothing."""
    h = Harness()
    waiting_for_the_rejoin(h)
    assert h.session(LAPTOP, leave()) == [
        Deliver(
            session=LAPTOP,
            stanza=x(
                "<presence from='lounge@muc.example.net/alice' to='alice@example.org/laptop' type='unavailable' id='bye'>"
                "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
                "<status code='110'/></x></presence>"
            ),
        )
    ]
    h.room(occupant("bob"))
    h.room(self_presence(pid="mmx-1"))
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]
    assert list(occ(h).attached) == [PHONE]


def test_a_session_waiting_for_the_rejoin_that_closes_is_forgotten_and_keeps_its_place() -> None:
    """A session closed before the rejoin answered it: nothing for it, then or at the
    subject; back within Config.device_memory, it is not counted as having had m1."""
    h = Harness()
    shut_down(h)
    account = h.router._core.table.accounts[ALICE]
    account.memory[ROOM].positions[LAPTOP] = (0, h.now)  # it had seen nothing
    h.session(LAPTOP, join(jid="j2"))
    assert h.closed(LAPTOP) == []
    h.room(occupant("bob"))
    h.room(self_presence(pid="mmx-1"))
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]
    assert account.memory[ROOM].positions[LAPTOP] == (0, h.now)
    assert LAPTOP not in account.sessions


def test_a_restart_while_the_rejoin_is_in_flight_forgets_the_waiting_session() -> None:
    """Router.restore(sessions=False): the sessions are gone, the waiting one too."""
    h = Harness()
    waiting_for_the_rejoin(h)
    restored = Router.restore(json.loads(json.dumps(h.router.snapshot())), now=h.now)
    view = restored.occupancy(ALICE, ROOM)
    assert view is not None
    assert view.attached == () and view.pending == ()


def test_a_moved_account_answers_the_session_waiting_for_its_rejoin_at_the_subject() -> None:
    """Router.restore(sessions=True): carried on exactly, the wait and its deadline too."""
    h = Harness()
    waiting_for_the_rejoin(h)
    deadline = h.router.next_deadline()
    h.router = Router.restore(json.loads(json.dumps(h.router.snapshot())), now=h.now, sessions=True)
    assert h.router.next_deadline() == deadline
    the_rejoin_answered(h)


def test_a_nick_change_while_waiting_for_the_rejoin_is_refused_and_a_status_change_kept() -> None:
    """§7.6 (RFC 6120 §8.3.3.18): no nick change before the join is answered; §7.7: a
    status change is carried by the update after the answer."""
    h = Harness()
    waiting_for_the_rejoin(h)
    rename = x("<presence to='lounge@muc.example.net/other' id='n1'/>")
    [refused] = h.session(LAPTOP, rename)
    assert isinstance(refused, Deliver) and refused.stanza.type == "error"
    assert "resource-constraint" in str(refused.stanza)
    chatty = x("<presence to='lounge@muc.example.net/alice' id='c1'><show>chat</show></presence>")
    assert h.session(LAPTOP, chatty) == [Discard(stanza=chatty, reason=DiscardReason.HELD)]
    h.room(occupant("bob"))
    h.room(self_presence(pid="mmx-1"))
    assert h.room(subject()) == [
        Discard(stanza=subject(), reason=DiscardReason.RESYNC),
        *answer(missed=False),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice'><show>chat</show></presence>"
            )
        ),
    ]


def test_a_status_change_while_waiting_goes_with_the_next_rejoin_when_this_one_fails() -> None:
    """§7.7: answered from the table when the rejoin fails for now, the session's status
    is carried by the next rejoin, as an attached session's is."""
    h = Harness()
    waiting_for_the_rejoin(h)
    chatty = x("<presence to='lounge@muc.example.net/alice' id='c1'><show>chat</show></presence>")
    h.session(LAPTOP, chatty)
    assert h.timer(h.now + 60.0) == answer(missed=False)
    [again] = h.timer(h.now + 10.0)
    assert isinstance(again, Send)
    assert again.stanza.find("show") is not None


def test_a_bookmark_going_during_the_wait_answers_the_waiting_session_before_the_leave() -> None:
    """XEP-0402 autojoin off, XEP-0045 §7.2.15 and §7.14: every session leaves with the
    account, the waiting one too; it is answered from the table first, so that the
    unavailable it gets next ends an occupancy it was told of, not one it never had."""
    h = Harness()
    resyncing(h)
    bookmark_lounge(h)
    h.session(LAPTOP, join(jid="j2"))
    gone = h.router.handle(BookmarksChanged(account=ALICE, bookmarks=()), now=h.now)
    assert gone == [
        *answer(missed=False),
        Send(
            stanza=Stanza(
                "presence",
                type="unavailable",
                from_=ALICE,
                to=ROOM.with_resource("alice"),
                id="mmx-3",
            )
        ),
    ]
    assert occ(h).state is OccupancyState.LEAVING
    assert sorted(occ(h).leaving) == [LAPTOP, PHONE]


def test_an_attached_session_that_re_sends_its_join_and_goes_while_waiting_keeps_its_place() -> (
    None
):
    """XEP-0045 §7.2.1, §7.2.15: the phone had every message while attached; it joins again
    during the rejoin's sequence and its stream ends before the answer. Back, it gets each
    message it missed, once, as if it had gone attached: not the default history, which
    left out the oldest of them."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))  # keeps the account in the room
    assert h.session(PHONE, join(jid="j9")) == []
    assert h.closed(PHONE) == []
    h.room(subject())
    for n in range(2, 30):
        h.room(groupchat(f"m{n}", mid=f"m{n}"))
    back = h.session(PHONE, join(jid="back"))
    stamp = "2027-01-15T08:15:00Z"  # received at h.now, replayed from the history
    assert [a for a in back if isinstance(a, Deliver) and a.stanza.find("body") is not None] == [
        Deliver(session=PHONE, stanza=groupchat(f"m{n}", mid=f"m{n}", stamp=stamp).with_to(PHONE))
        for n in range(2, 30)
    ]


def test_a_waiting_join_that_asks_for_no_history_still_gets_what_came_after_it() -> None:
    """XEP-0045 §7.2.14, §7.2.15: maxstanzas='0' asks for no history from before the
    join; a message the room sends while the session waits came after its join, and
    would have reached it live: its answer brings it, before the subject."""
    h = Harness()
    resyncing(h)
    assert h.session(LAPTOP, join(jid="j2", inner="<history maxstanzas='0'/>")) == []
    live = groupchat("live", mid="m5")
    assert h.room(live) == [archived(live), Deliver(session=PHONE, stanza=live.with_to(PHONE))]
    replayed = groupchat("live", mid="m5", stamp="2027-01-15T08:15:00Z").with_to(LAPTOP)
    assert h.room(subject()) == [
        Discard(stanza=subject(), reason=DiscardReason.RESYNC),
        Deliver(session=LAPTOP, stanza=occupant("bob").with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=late_self()),
        Deliver(session=LAPTOP, stanza=replayed),
        Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP)),
    ]


def test_a_message_withheld_for_a_waiting_session_that_goes_unanswered_is_announced() -> None:
    """Unattended: a room message that came while no session was attached. One that comes
    while a session waits is not announced, as its answer brings it; if the session goes
    unanswered nobody got it: it is announced then, once, with its mention."""
    h = Harness()
    h.now = 1_800_000_000.0
    bookmark_lounge(h)  # the account stays in the room with no device
    [autojoin] = h.timer(h.now)
    assert isinstance(autojoin, Send)
    h.room(occupant("bob"))
    h.room(self_presence(pid=autojoin.stanza.id))
    h.room(subject())
    [ping] = h.timer(h.now + 900)
    assert isinstance(ping, Send)
    [_, rejoin] = h.room(x(NOT_JOINED.format(id=ping.stanza.id)))
    assert isinstance(rejoin, Send)
    h.room(occupant("bob"))
    h.room(self_presence(pid=rejoin.stanza.id))
    assert occ(h).resync is not None
    assert h.session(LAPTOP, join(jid="j2")) == []
    urgent = groupchat("alice: urgent", mid="m5")
    assert h.room(urgent) == [
        archived(urgent),
        Discard(stanza=urgent, reason=DiscardReason.NO_SESSION),
    ]
    assert h.closed(LAPTOP) == [Unattended(account=ALICE, room=ROOM, stanza=urgent, mentions=True)]
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]


def test_a_session_that_waited_for_the_rejoin_and_left_gets_its_answer_under_its_own_join_id() -> (
    None
):
    """XEP-0045 §7.2 (the room reflects the join's id), §7.14: the laptop joins while the
    rejoin is out and leaves before it is answered, the phone gone before it. The room's
    answer to the rejoin reaches the laptop as it leaves: under the id of its own join, not
    the router's rejoin id, which means nothing to it."""
    h = Harness()
    waiting_for_the_rejoin(h)
    h.session(PHONE, leave(jid="pbye"))
    assert h.session(LAPTOP, leave()) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='bye'/>"
            )
        )
    ]
    assert occ(h).state is OccupancyState.LEAVING
    assert h.room(self_presence(pid="mmx-1")) == [Deliver(session=LAPTOP, stanza=late_self("j2"))]


def test_the_rest_of_the_rejoin_s_sequence_after_a_bookmark_went_is_not_shown_twice() -> None:
    """XEP-0045 §7.2.15, §7.14: the bookmark goes while the laptop waits for the rejoin's
    sequence to end; the laptop is answered from the table (its subject last) and both
    sessions leave with the account. The room's unchanged subject, ending its sequence
    before the leave's answer, is known to both: not a second subject to either. A
    message they had not seen still reaches them."""
    h = Harness()
    resyncing(h)
    bookmark_lounge(h)
    h.session(LAPTOP, join(jid="j2"))
    h.router.handle(BookmarksChanged(account=ALICE, bookmarks=()), now=h.now)
    assert occ(h).state is OccupancyState.LEAVING
    assert h.room(MISSED) == [
        archived(MISSED),
        Deliver(session=PHONE, stanza=MISSED.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=MISSED.with_to(LAPTOP)),
    ]
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]
    out = left("mmx-3")
    assert h.room(out) == [
        Deliver(session=PHONE, stanza=out.replace(to=PHONE, id=None)),
        Deliver(session=LAPTOP, stanza=out.replace(to=LAPTOP, id=None)),
    ]


def test_a_session_leaving_while_the_rejoin_is_in_flight_is_not_shown_what_it_knows() -> None:
    """XEP-0045 §7.14, §7.2.15: the phone was in the room all along; it leaves while the
    router's rejoin is out. The room's answer to the rejoin comes before the leave's: the
    occupants, self-presence and subject it knows are not shown to it again; the message
    it missed is; then its unavailable."""
    h = Harness()
    shut_down(h)
    h.timer(h.now + 5.0)
    h.session(PHONE, leave())
    assert occ(h).state is OccupancyState.LEAVING
    assert h.room(occupant("bob")) == [Discard(stanza=occupant("bob"), reason=DiscardReason.RESYNC)]
    back = self_presence(pid="mmx-1")
    assert h.room(back) == [Discard(stanza=back, reason=DiscardReason.RESYNC)]
    assert h.room(MISSED) == [
        archived(MISSED),
        Deliver(session=PHONE, stanza=MISSED.with_to(PHONE)),
    ]
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]
    assert h.room(left("bye")) == [Deliver(session=PHONE, stanza=left("bye").with_to(PHONE))]


def test_a_rejoin_answered_while_leaving_still_answers_the_session_that_waited_for_it() -> None:
    """XEP-0045 §7.2.15, §7.14: the laptop joined while the rejoin was out, then left with
    the phone before its answer. The room's answer to the rejoin is the laptop's join's
    answer, whole; the phone, in all along, gets only what it missed."""
    h = Harness()
    waiting_for_the_rejoin(h)
    h.session(PHONE, leave(jid="pbye"))
    h.session(LAPTOP, leave())
    assert h.room(occupant("bob")) == [
        Deliver(session=LAPTOP, stanza=occupant("bob").with_to(LAPTOP))
    ]
    assert h.room(self_presence(pid="mmx-1")) == [Deliver(session=LAPTOP, stanza=late_self("j2"))]
    assert h.room(subject()) == [Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP))]


def test_the_last_waiting_session_leaving_during_the_sequence_gets_no_subject_without_presence() -> (
    None
):
    """XEP-0045 §7.2.15, §7.14: the laptop joins after the rejoin's self-presence and,
    the phone gone, leaves before the subject; the subject that ends the sequence is not
    its answer (it never had a self-presence): it gets its unavailable alone."""
    h = Harness()
    resyncing(h)
    h.session(LAPTOP, join(jid="j2"))
    h.session(PHONE, leave(jid="pbye"))
    h.session(LAPTOP, leave())
    assert occ(h).state is OccupancyState.LEAVING
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]
    assert h.room(left("bye")) == [Deliver(session=LAPTOP, stanza=left("bye").with_to(LAPTOP))]


def lone_waiter_with_a_withheld_mention(h: Harness) -> Stanza:
    """A bookmark keeps the account in with no device; a rejoin's sequence is arriving;
    the laptop joins and waits; a mention comes, withheld for the laptop's answer."""
    h.now = 1_800_000_000.0
    bookmark_lounge(h)
    [autojoin] = h.timer(h.now)
    assert isinstance(autojoin, Send)
    h.room(occupant("bob"))
    h.room(self_presence(pid=autojoin.stanza.id))
    h.room(subject())
    [ping] = h.timer(h.now + 900)
    assert isinstance(ping, Send)
    [_, rejoin] = h.room(x(NOT_JOINED.format(id=ping.stanza.id)))
    assert isinstance(rejoin, Send)
    h.room(occupant("bob"))
    h.room(self_presence(pid=rejoin.stanza.id))
    assert h.session(LAPTOP, join(jid="j2")) == []
    urgent = groupchat("alice: urgent", mid="m5")
    assert h.room(urgent) == [
        archived(urgent),
        Discard(stanza=urgent, reason=DiscardReason.NO_SESSION),
    ]
    return urgent


def test_a_message_withheld_for_a_waiting_session_then_kicked_is_announced() -> None:
    """§8.2 and Unattended: the kick answers the waiting laptop with its removal, so what
    was withheld for its answer reached nobody: announced with the removal, once."""
    h = Harness()
    urgent = lone_waiter_with_a_withheld_mention(h)
    kick = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
        "<status code='307'/><status code='110'/></x></presence>"
    )
    assert h.room(kick) == [
        Deliver(session=LAPTOP, stanza=kick.with_to(LAPTOP)),
        Unattended(account=ALICE, room=ROOM, stanza=urgent, mentions=True),
    ]


def test_a_restart_forgets_what_was_withheld_for_a_session_gone_with_the_process() -> None:
    """Router.restore(sessions=False): the waiting laptop went with the process; the message
    stays in the history for a device that comes back, and nothing is announced later for
    a session that no longer exists."""
    h = Harness()
    lone_waiter_with_a_withheld_mention(h)
    assert occ(h).withheld != ()
    restored = Router.restore(json.loads(json.dumps(h.router.snapshot())), now=h.now)
    assert restored._core.table.accounts[ALICE].rooms[ROOM].withheld == ()


def test_a_restore_under_a_smaller_history_bound_keeps_the_newest_withheld_messages() -> None:
    """What is withheld for a waiting session is bounded as the history is: a restore under
    a smaller ``max_history_messages`` keeps the newest, as the bound would have."""
    h = Harness()
    lone_waiter_with_a_withheld_mention(h)
    for n in (6, 7):
        h.room(groupchat(f"more {n}", mid=f"m{n}"))
    assert occ(h).withheld == ((1, True), (2, False), (3, False))
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    restored = Router.restore(
        snapshot, now=h.now, config=Config(max_history_messages=2), sessions=True
    )
    assert restored._core.table.accounts[ALICE].rooms[ROOM].withheld == ((2, False), (3, False))
