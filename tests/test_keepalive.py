"""The router's own XEP-0410 keep-alive and its silent rejoin (XEP-0410 §3, XEP-0045 §11)."""

from __future__ import annotations

import json

import pytest

from helpers import (
    ALICE,
    LAPTOP,
    OTHER_ROOM,
    PHONE,
    ROOM,
    Harness,
    archived,
    bookmark_lounge,
    groupchat,
    join,
    leave,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import (
    JID,
    Bookmark,
    BookmarksChanged,
    Config,
    Deliver,
    Discard,
    DiscardReason,
    InvalidJID,
    OccupancyState,
    Router,
    Send,
)

MUC_JOIN = "<x xmlns='http://jabber.org/protocol/muc'/>"
PING = "<iq from='alice@example.org' to='lounge@muc.example.net/alice' type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"


def answer(iq_id: str, error: str | None = None, by: str = "lounge@muc.example.net") -> str:
    if error is None:
        return f"<iq type='result' from='lounge@muc.example.net/alice' to='alice@example.org' id='{iq_id}'/>"
    return (
        f"<iq type='error' from='lounge@muc.example.net/alice' to='alice@example.org' id='{iq_id}'>"
        f"<error type='cancel' by='{by}'><{error} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )


def occ(h: Harness):  # type: ignore[no-untyped-def]
    return h.router._core.table.accounts[ALICE].rooms[ROOM]


def pinged(h: Harness, at: float = 900.0) -> str:
    actions = h.timer(at)
    assert len(actions) == 1
    action = actions[0]
    assert isinstance(action, Send)
    assert action.stanza.find("{urn:xmpp:ping}ping") is not None
    return action.stanza.id or ""


def test_silence_makes_the_router_self_ping_from_the_account() -> None:
    """XEP-0410 §3.2: after Config.keepalive_idle of silence, a ping to its own occupant JID."""
    h = Harness()
    h.joined(PHONE)
    assert h.router.next_deadline() == 900.0
    assert h.router.handle_timer(899.0) == []
    assert h.router.handle_timer(900.0) == [Send(stanza=x(PING.format(id="mmx-1")))]
    assert h.router.next_deadline() == 960.0


def test_traffic_postpones_the_ping() -> None:
    """Any stanza from the room proves the account is still in it."""
    h = Harness()
    h.joined(PHONE)
    h.now = 500.0
    h.room(groupchat("still here"))
    assert h.router.handle_timer(900.0) == []
    assert h.router.next_deadline() == 1400.0


def test_answers_meaning_joined_keep_things_as_they_are() -> None:
    """XEP-0410 §3.2: result, service-unavailable, feature-not-implemented, item-not-found by the room."""
    for reply in (None, "service-unavailable", "feature-not-implemented", "item-not-found"):
        h = Harness()
        h.joined(PHONE)
        ping_id = pinged(h)
        stanza = x(answer(ping_id, reply))
        assert h.room(stanza) == [Discard(stanza=stanza, reason=DiscardReason.KEEPALIVE)]
        assert occ(h).state is OccupancyState.JOINED
        assert h.router.next_deadline() == 1800.0


def test_item_not_found_by_the_room_in_other_capitals_is_the_room_s() -> None:
    """XEP-0410 §3.2, RFC 7622 §3.2-3.3: ``by`` names the room however its local and domain
    parts are written; item-not-found from the room means joined under another nick."""
    h = Harness()
    h.joined(PHONE)
    stanza = x(answer(pinged(h), "item-not-found", by="Lounge@MUC.Example.net"))
    assert h.room(stanza) == [Discard(stanza=stanza, reason=DiscardReason.KEEPALIVE)]
    assert occ(h).state is OccupancyState.JOINED
    assert h.router.next_deadline() == 1800.0


def test_no_answer_asks_again_with_backoff() -> None:
    """XEP-0410 §3.2: no answer means unknown; retry later, waiting longer each time."""
    h = Harness(Router(Config(keepalive_timeout=10.0)))
    h.joined(PHONE)
    pinged(h)
    assert h.timer(910.0) == []
    assert h.router.next_deadline() == 930.0
    assert pinged(h, 930.0) == "mmx-2"
    transient = x(answer("mmx-2", "remote-server-timeout"))
    assert h.room(transient) == [Discard(stanza=transient, reason=DiscardReason.KEEPALIVE)]
    assert pinged(h, 940.0) == "mmx-3"
    h.room(x(answer("mmx-3")))
    assert occ(h).ping_failures == 0


def test_not_joined_answer_rejoins_at_once_asking_for_missed_history() -> None:
    """XEP-0410 §3.2: not-acceptable means the room forgot the account; rejoin silently."""
    h = Harness()
    h.now = 1_800_000_000.0
    h.joined(PHONE, LAPTOP, others=("bob", "dave"))
    h.room(
        groupchat("seen", mid="m1").replace(
            children=(
                *groupchat("seen").children,
                x(
                    "<message><stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='s1'/></message>"
                ).children[0],
            )
        )
    )
    ping_id = pinged(h, h.now + 900)
    forgot = x(answer(ping_id, "not-acceptable"))
    assert h.room(forgot) == [
        Discard(stanza=forgot, reason=DiscardReason.KEEPALIVE),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='mmx-2'>"
                "<x xmlns='http://jabber.org/protocol/muc'><history since='2027-01-15T08:00:00Z'/></x></presence>"
            )
        ),
    ]
    assert occ(h).state is OccupancyState.REJOIN_SENT
    # The room sends its join sequence again; the sessions see only what changed.
    bob = occupant("bob")
    assert h.room(bob) == [Discard(stanza=bob, reason=DiscardReason.RESYNC)]
    carol = occupant("carol")
    assert h.room(carol) == [
        Deliver(session=PHONE, stanza=carol.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=carol.with_to(LAPTOP)),
    ]
    me = self_presence(pid="mmx-2")
    dave_left = x(
        "<presence type='unavailable' from='lounge@muc.example.net/dave' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"
    )
    assert h.room(me) == [
        Deliver(session=PHONE, stanza=dave_left.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=dave_left.with_to(LAPTOP)),
        Discard(stanza=me, reason=DiscardReason.RESYNC),
    ]
    assert occ(h).state is OccupancyState.JOINED
    old = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='m1'><body>seen</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='s1'/>"
        "<delay xmlns='urn:xmpp:delay' from='lounge@muc.example.net' stamp='2027-01-15T08:00:00Z'/></message>"
    )
    assert h.room(old) == [Discard(stanza=old, reason=DiscardReason.RESYNC)]
    missed = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='m2'><body>missed</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='s2'/>"
        "<delay xmlns='urn:xmpp:delay' from='lounge@muc.example.net' stamp='2027-01-15T08:10:00Z'/></message>"
    )
    assert h.room(missed) == [
        archived(missed),
        Deliver(session=PHONE, stanza=missed.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=missed.with_to(LAPTOP)),
    ]
    same_subject = subject()
    assert h.room(same_subject) == [Discard(stanza=same_subject, reason=DiscardReason.RESYNC)]
    assert occ(h).resync is None
    assert h.router.next_deadline() == h.now + 900


def test_changed_self_presence_and_subject_after_rejoin_are_shown() -> None:
    """What changed while the account was out reaches the sessions."""
    h = Harness()
    h.joined(PHONE, others=())
    h.room(x(answer(pinged(h), "not-acceptable")))
    demoted = self_presence(role="visitor")
    assert h.room(demoted) == [Deliver(session=PHONE, stanza=demoted.with_to(PHONE))]
    new_subject = subject("changed")
    assert h.room(new_subject) == [Deliver(session=PHONE, stanza=new_subject.with_to(PHONE))]


def rejoin_answered_after_a_restart(codes: tuple[int, ...]) -> tuple[Harness, list[object]]:
    """The room forgot the account; its rejoin (mmx-2) is on its way when the process
    restarts. The device comes back and is answered from the table, bob in it; then the
    room's answer to the rejoin arrives, from a room that has nobody else in it now."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    h.room(x(answer(pinged(h), "not-acceptable")))
    h.router = Router.restore(json.loads(json.dumps(h.router.snapshot())), now=901.0)
    h.now = 901.0
    h.session(PHONE, join(jid="j2"))  # answered from the table, and the room pinged
    return h, list(h.room(self_presence(pid="mmx-2", codes=codes)))


_BOB_LEFT = (
    "<presence type='unavailable' from='lounge@muc.example.net/bob' to='alice@example.org/phone'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"
)


def test_a_rejoin_answered_after_a_restart_makes_the_account_ask_the_room_again() -> None:
    """Restored in the room, the account did not wait for that answer any more: it comes
    from the room as it is now, which named nobody before it. The account joins again to
    have everyone named (§7.2.1), and the device learns bob is not there; he stayed."""
    h, actions = rejoin_answered_after_a_restart((110,))
    late = self_presence(pid="mmx-2")
    assert actions == [
        Discard(stanza=late, reason=DiscardReason.STALE),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='mmx-4'>"
                "<x xmlns='http://jabber.org/protocol/muc'><history since='1970-01-01T00:00:00Z'/>"
                "</x></presence>"
            )
        ),
    ]
    me = self_presence(pid="mmx-4")
    assert h.room(me) == [
        Deliver(session=PHONE, stanza=x(_BOB_LEFT)),
        Discard(stanza=me, reason=DiscardReason.RESYNC),
    ]


def test_a_rejoin_answered_after_a_restart_by_a_room_made_anew_needs_no_asking() -> None:
    """Made anew for it (201), the room has nobody else in it (§10.1.1): the device is told
    at once, and the account, in by that answer, asks nothing more."""
    h, actions = rejoin_answered_after_a_restart((201, 110))
    made = self_presence(pid="mmx-2", codes=(201, 110))
    assert actions == [
        Deliver(session=PHONE, stanza=x(_BOB_LEFT)),
        Deliver(session=PHONE, stanza=made.with_to(PHONE)),
    ]
    assert occ(h).state is OccupancyState.JOINED


def test_a_rejoin_answered_after_a_restart_with_nobody_to_tell_asks_nothing() -> None:
    """No device came back and no bookmark keeps the room: its turn to leave comes."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    h.room(x(answer(pinged(h), "not-acceptable")))
    h.router = Router.restore(json.loads(json.dumps(h.router.snapshot())), now=901.0)
    h.now = 901.0
    late = self_presence(pid="mmx-2")
    assert h.room(late) == [Discard(stanza=late, reason=DiscardReason.STALE)]
    assert occ(h).state is OccupancyState.JOINED


def test_a_bookmark_s_retried_join_answered_dates_the_next_rejoin_s_history_from_then() -> None:
    """Never in before its retry was answered (here after a restart), the account asks a
    later rejoin for the history since it got in (§7.2.14), not since 1970: the room would
    send everything it has."""
    h = Harness()
    bookmark_lounge(h)
    h.timer(0.0)  # mmx-1, on its way at the restart
    h.router = Router.restore(json.loads(json.dumps(h.router.snapshot())), now=50.0)
    h.now = 50.0
    h.timer(50.0)  # the retry, mmx-2
    h.now = 51.0
    h.room(self_presence(pid="mmx-2"))
    h.room(subject())
    forgot = x(answer(pinged(h, 951.0), "not-acceptable"))
    assert h.room(forgot)[1] == Send(
        stanza=x(
            "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='mmx-4'>"
            "<x xmlns='http://jabber.org/protocol/muc'><history since='1970-01-01T00:00:51Z'/>"
            "</x></presence>"
        )
    )


def test_the_answer_to_a_leave_from_before_a_restart_resets_whom_the_rejoin_counts() -> None:
    """The account's leave was on its way at the restart, which keeps the account in the
    room (nothing says the room took the leave). A device comes back and the room, asked,
    says the account is out: it rejoins. The leave's answer then comes: whom the room named
    before it (bob, live) was in the room then; the rejoin's answer names who is in it now,
    and bob, not named, is shown leaving. He stayed in the device's view for good."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    h.session(PHONE, leave())  # the account's leave, "bye", on its way
    h.router = Router.restore(json.loads(json.dumps(h.router.snapshot())), now=10.0)
    h.now = 10.0
    h.session(PHONE, join(jid="j2"))  # answered from the table, and the room pinged: mmx-1
    out = h.room(x(answer("mmx-1", "not-acceptable")))
    assert [type(a) for a in out] == [Discard, Send]  # the rejoin, mmx-2
    bob = occupant("bob")
    assert h.room(bob) == [Discard(stanza=bob, reason=DiscardReason.RESYNC)]
    bye = x(
        "<presence from='lounge@muc.example.net/alice' to='alice@example.org' type='unavailable'"
        " id='bye'><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<item affiliation='member' role='none'/><status code='110'/></x></presence>"
    )
    assert h.room(bye) == [Discard(stanza=bye, reason=DiscardReason.STALE)]
    me = self_presence(pid="mmx-2")
    assert h.room(me) == [
        Deliver(session=PHONE, stanza=x(_BOB_LEFT)),
        Discard(stanza=me, reason=DiscardReason.RESYNC),
    ]


def test_a_subject_before_the_rejoin_s_self_presence_does_not_end_its_sequence() -> None:
    """A subject changed while the rejoin is on its way reaches the sessions, but the
    rejoin's sequence ends only with its own subject, after its self-presence (§7.1): who
    the room does not name before that left. Ending it early kept them as ghosts."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    h.room(x(answer(pinged(h), "not-acceptable")))
    changed = subject("changed")
    assert h.room(changed) == [Deliver(session=PHONE, stanza=changed.with_to(PHONE))]
    assert occ(h).resync == {}
    me = self_presence(pid="mmx-2")
    bob_left = x(
        "<presence type='unavailable' from='lounge@muc.example.net/bob' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"
    )
    assert h.room(me) == [
        Deliver(session=PHONE, stanza=bob_left.with_to(PHONE)),
        Discard(stanza=me, reason=DiscardReason.RESYNC),
    ]
    assert h.room(changed) == [Discard(stanza=changed, reason=DiscardReason.RESYNC)]
    assert occ(h).resync is None


def test_room_gone_tells_the_sessions_with_333() -> None:
    """Fixtures finding 8: item-not-found by the service domain means the room no longer exists."""
    h = Harness()
    h.joined(PHONE)
    gone = x(answer(pinged(h), "item-not-found", by="muc.example.net"))
    removal = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org/phone'>"
        "<status>The room no longer exists</status><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<item affiliation='member' role='none'/><status code='110'/><status code='333'/></x></presence>"
    )
    assert h.room(gone) == [
        Discard(stanza=gone, reason=DiscardReason.KEEPALIVE),
        Deliver(session=PHONE, stanza=removal),
    ]
    assert h.router._core.table.accounts == {}
    assert h.router.next_deadline() is None


SHUTDOWN = (
    "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
    "<status code='332'/><status code='110'/></x></presence>"
)


@pytest.mark.parametrize("code", ["332", "333"])
def test_service_shutdown_rejoins_after_a_delay_without_bothering_sessions(code: str) -> None:
    """XEP-0045 §11.1, §11.2: 332/333 are not the account's fault; rejoin after Config.rejoin_delay."""
    h = Harness()
    h.joined(PHONE)
    shutdown = x(SHUTDOWN.replace("332", code))
    assert h.room(shutdown) == [Discard(stanza=shutdown, reason=DiscardReason.REJOINING)]
    assert occ(h).state is OccupancyState.REJOIN_WAIT
    assert h.router.next_deadline() == 5.0
    [rejoin] = h.timer(5.0)
    assert isinstance(rejoin, Send)
    assert rejoin.stanza.id == "mmx-1"
    assert h.session(LAPTOP, join(jid="late")) == []  # it waits for the rejoin (§7.2.15)
    ping = x(
        "<iq to='lounge@muc.example.net/alice' type='get' id='sp'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    [pong] = h.session(PHONE, ping)
    assert isinstance(pong, Deliver)
    assert pong.stanza.type == "result"


def test_transient_rejoin_errors_back_off_then_give_up() -> None:
    """Config.max_rejoin_attempts: each try waits twice as long; then the sessions are told."""
    h = Harness(Router(Config(max_rejoin_attempts=2, rejoin_delay=10.0)))
    h.joined(PHONE)
    h.room(x(SHUTDOWN))
    h.timer(10.0)
    failed = x(
        "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    assert h.room(failed) == [Discard(stanza=failed, reason=DiscardReason.REJOINING)]
    assert h.router.next_deadline() == 30.0
    h.timer(30.0)
    actions = h.room(failed)
    assert actions[0] == Discard(stanza=failed, reason=DiscardReason.REJOINING)
    [told] = actions[1:]
    assert isinstance(told, Deliver)
    assert told.stanza.type == "unavailable"
    assert h.router._core.table.accounts == {}


def test_rejoin_refused_for_good_tells_the_sessions() -> None:
    """A ban meanwhile: forbidden is final; sessions learn they are out, with the reason."""
    h = Harness()
    h.joined(PHONE)
    h.room(x(answer(pinged(h), "not-acceptable")))
    banned = x(
        "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    actions = h.room(banned)
    assert actions[0] == Discard(stanza=banned, reason=DiscardReason.REJOINING)
    [told] = actions[1:]
    assert isinstance(told, Deliver)
    assert told.stanza.find("status").text == "Could not rejoin the room: forbidden"  # type: ignore[union-attr]


def test_kick_during_rejoin_is_shown() -> None:
    """A removal that is the account's fault ends the rejoin."""
    h = Harness()
    h.joined(PHONE)
    h.room(x(answer(pinged(h), "not-acceptable")))
    kick = x(SHUTDOWN.replace("332", "307"))
    assert h.room(kick) == [Deliver(session=PHONE, stanza=kick.with_to(PHONE))]


def test_last_session_leaving_while_waiting_to_rejoin_just_stops() -> None:
    """Nobody to rejoin for: nothing goes to a room that already forgot the account."""
    h = Harness()
    h.joined(PHONE)
    h.room(x(SHUTDOWN))
    assert h.closed(PHONE) == []
    assert h.router._core.table.accounts == {}
    assert h.router.next_deadline() is None


def test_last_session_leaving_while_the_rejoin_is_out_leaves() -> None:
    """The join is on its way: follow it with an unavailable."""
    h = Harness()
    h.joined(PHONE)
    h.room(x(answer(pinged(h), "not-acceptable")))
    assert h.closed(PHONE) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-3'/>"
            )
        )
    ]


def test_no_ping_once_the_account_leaves() -> None:
    """The keep-alive only runs while joined: leaving cancels it; the leave's own deadline stays."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable' id='l1'/>"))
    assert h.router.next_deadline() == 30.0  # Config.leave_timeout, not the keep-alive
    # The phone learns it is out; the unanswered leave is said once more; no ping.
    assert [type(a) for a in h.router.handle_timer(900.0)] == [Deliver, Send]
    assert [kind for _, kind, _, _ in h.router.upcoming()] == ["leave-timeout"]
    assert h.router.handle_timer(930.0) == []
    assert [kind for _, kind, _, _ in h.router.upcoming()] == ["forget"]


def test_an_error_without_a_condition_means_not_joined() -> None:
    """XEP-0410 §3.2: any other error means 'probably not joined'; a bare <error/> included."""
    for error in (
        "<error type='cancel'/>",
        "<error type='cancel'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>?</text></error>",
        "",
    ):
        h = Harness()
        h.joined(PHONE)
        ping_id = pinged(h)
        odd = x(
            f"<iq type='error' from='lounge@muc.example.net/alice' to='alice@example.org' id='{ping_id}'>{error}</iq>"
        )
        actions = h.room(odd)
        assert actions[0] == Discard(stanza=odd, reason=DiscardReason.KEEPALIVE)
        assert isinstance(actions[1], Send)
        assert occ(h).state is OccupancyState.REJOIN_SENT


def test_a_rejoin_recognises_what_it_knew_whatever_the_attribute_order() -> None:
    """A restarted server may write attributes in another order: still nothing new to show."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    h.room(x(answer(pinged(h), "not-acceptable")))
    reordered_bob = x(
        "<presence from='lounge@muc.example.net/bob' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item role='participant' affiliation='none'/></x></presence>"
    )
    assert h.room(reordered_bob) == [Discard(stanza=reordered_bob, reason=DiscardReason.RESYNC)]
    reordered_me = x(
        "<presence from='lounge@muc.example.net/alice' to='alice@example.org' id='mmx-2'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item role='participant' affiliation='member'/>"
        "<status code='110'/></x></presence>"
    )
    assert h.room(reordered_me) == [Discard(stanza=reordered_me, reason=DiscardReason.RESYNC)]
    reordered_subject = subject().replace(attrs=())
    assert h.room(reordered_subject) == [
        Discard(stanza=reordered_subject, reason=DiscardReason.RESYNC)
    ]


def test_a_changed_self_presence_after_a_rejoin_does_not_carry_the_routers_id() -> None:
    """The sessions never sent the rejoin; they get the change without its id."""
    h = Harness()
    h.joined(PHONE, others=())
    h.room(x(answer(pinged(h), "not-acceptable")))
    demoted = self_presence(role="visitor", pid="mmx-2")
    assert h.room(demoted) == [
        Deliver(session=PHONE, stanza=demoted.with_to(PHONE).replace(id=None))
    ]


def test_shut_down_again_while_rejoining_tries_again_later() -> None:
    """XEP-0045 §11.2: a second 332 during the rejoin is no more the account's fault."""
    h = Harness()
    h.joined(PHONE)
    h.room(x(SHUTDOWN))
    h.timer(5.0)
    again = x(SHUTDOWN)
    assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.REJOINING)]
    assert occ(h).state is OccupancyState.REJOIN_WAIT
    assert h.router.next_deadline() == 5.0 + 10.0


def test_a_session_joining_during_a_rejoin_waits_for_it_and_is_answered_at_its_subject() -> None:
    """XEP-0045 §7.2.15: the account is on its way back in; a late join waits for the
    rejoin's join sequence, and its subject answers it from the table, in §7.1 order."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    h.room(x(answer(pinged(h), "not-acceptable")))
    assert h.session(LAPTOP, join(jid="late")) == []
    assert occ(h).state is OccupancyState.REJOIN_SENT
    h.room(occupant("bob"))
    h.room(self_presence(pid="mmx-2"))
    assert h.room(subject()) == [
        Discard(stanza=subject(), reason=DiscardReason.RESYNC),
        Deliver(session=LAPTOP, stanza=occupant("bob", to=LAPTOP)),
        Deliver(session=LAPTOP, stanza=self_presence(pid="late").with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP)),
    ]


def test_no_keepalive_while_a_nick_change_is_in_flight() -> None:
    """XEP-0410 §4: a ping between a nick change and its answer would be misread; wait."""
    h = Harness(Router(Config(nick_change_timeout=1000.0)))
    h.joined(PHONE)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice2' id='n'/>"))
    assert h.timer(900.0) == []
    assert h.router.next_deadline() == 960.0


@pytest.mark.parametrize("condition", ["internal-server-error", "recipient-unavailable", "gone"])
def test_other_ping_errors_mean_not_joined(condition: str) -> None:
    """XEP-0410 §3.2: only a few errors say "joined"; the rest say "not joined": rejoin."""
    h = Harness()
    h.joined(PHONE)
    failed = x(answer(pinged(h), condition))
    actions = h.room(failed)
    assert actions[0] == Discard(stanza=failed, reason=DiscardReason.KEEPALIVE)
    assert isinstance(actions[1], Send)
    assert occ(h).state is OccupancyState.REJOIN_SENT


@pytest.mark.parametrize("condition", ["remote-server-not-found", "remote-server-timeout"])
def test_an_unreachable_room_server_is_asked_again(condition: str) -> None:
    """XEP-0410 §3.2: the room's server could not be reached; nothing is known yet."""
    h = Harness()
    h.joined(PHONE)
    failed = x(answer(pinged(h), condition))
    assert h.room(failed) == [Discard(stanza=failed, reason=DiscardReason.KEEPALIVE)]
    assert occ(h).state is OccupancyState.JOINED


def test_a_ping_answer_after_the_leave_began_is_stale() -> None:
    """The keep-alive's id is forgotten when the account leaves: its late answer matches
    nothing and is discarded, whatever it says."""
    h = Harness()
    h.joined(PHONE)
    ping_id = pinged(h)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable' id='l1'/>"))
    late = x(answer(ping_id, "not-acceptable"))
    assert h.room(late) == [Discard(stanza=late, reason=DiscardReason.STALE)]
    assert occ(h).state is OccupancyState.LEAVING


def test_errors_from_the_room_are_no_sign_of_life() -> None:
    """A room that keeps refusing the account's messages is not heard from: the keep-alive
    still pings after Config.keepalive_idle."""
    h = Harness()
    h.joined(PHONE)
    for at in (300.0, 600.0, 899.0):
        h.now = at
        h.room(
            x(
                "<message type='error' from='lounge@muc.example.net' to='alice@example.org' id='x'>"
                "<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
            )
        )
    pinged(h, 900.0)


PLAIN_OUT = (
    "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
    "<status code='110'/></x></presence>"
)


def test_a_room_saying_out_without_a_reason_is_joined_again() -> None:
    """An unavailable self-presence with no removal code while joined: the room lost the
    account (or it is a stale copy); joining again is right either way (§7.2.1)."""
    h = Harness()
    h.joined(PHONE)
    out = x(PLAIN_OUT)
    actions = h.room(out)
    assert actions[0] == Discard(stanza=out, reason=DiscardReason.REJOINING)
    assert isinstance(actions[1], Send)
    assert occ(h).state is OccupancyState.REJOIN_SENT


def test_an_old_leave_answer_during_a_join_is_stale() -> None:
    """A duplicated answer to an earlier leave must not throw the next join out (§7.14)."""
    h = Harness()
    h.session(PHONE, join())
    old = x(PLAIN_OUT)
    assert h.room(old) == [Discard(stanza=old, reason=DiscardReason.STALE)]
    assert occ(h).state is OccupancyState.JOINING


def test_ghost_occupants_are_not_removed_when_the_resync_could_not_track_them() -> None:
    """Config.max_occupants_per_room bounds what a rejoin tracks; past it nobody is taken
    for gone."""
    h = Harness(Router(Config(max_occupants_per_room=1)))
    h.joined(PHONE, others=("bob",))
    h.room(x(answer(pinged(h), "not-acceptable")))
    h.room(occupant("carol"))
    me = self_presence(pid="mmx-2")
    assert h.room(me) == [Discard(stanza=me, reason=DiscardReason.RESYNC)]
    assert list(occ(h).view.occupants) == ["bob"]


def test_a_nick_change_unanswered_after_its_session_left_ends_quietly() -> None:
    """Config.nick_change_timeout: nobody to tell; another change may be asked for."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/al' id='n'/>"))
    h.closed(PHONE)
    assert h.timer(60.0) == []
    assert occ(h).nick_change is None


def test_the_room_losing_the_account_in_its_disconnect_grace_is_not_rejoined() -> None:
    """Nobody is attached and no bookmark keeps the room: the account was about to leave.

    The room forgot it (an unavailable without a reason, a ping's not-acceptable): it is
    out already, not joined again. It rejoined, and then stayed in the room for good: the
    grace had gone with the rejoin, and nothing made it leave.
    """
    lost = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
        "<status code='110'/></x></presence>"
    )
    h = Harness()
    h.joined(PHONE)
    assert h.closed(PHONE) == []
    h.now = 10.0
    assert h.room(lost) == [Discard(stanza=lost, reason=DiscardReason.NO_SESSION)]
    assert h.router.occupancy(ALICE, ROOM) is None
    assert h.router.upcoming() == [(3610.0, "forget", ALICE, ALICE)]  # the phone's position
    # The phone comes back later: a join of its own, as into any room.
    assert h.session(PHONE, join(jid="back")) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='back'>"
                "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
            )
        )
    ]

    h = Harness(Router(Config(disconnect_grace=1000.0)))
    h.joined(PHONE)
    assert h.closed(PHONE) == []
    ping_id = pinged(h)
    refused = x(answer(ping_id, "not-acceptable"))
    assert h.room(refused) == [Discard(stanza=refused, reason=DiscardReason.KEEPALIVE)]
    assert h.router.occupancy(ALICE, ROOM) is None
    assert h.router.upcoming() == [(4500.0, "forget", ALICE, ALICE)]


def test_a_bookmarked_room_found_gone_is_not_joined_again_by_another_bookmark_change() -> None:
    """XEP-0410 §3.2 (item-not-found from the service), XEP-0402: the room no longer exists;
    like a destroyed one it is not created again on the bookmark's behalf until the bookmark
    changes: a change to another bookmark only joins that one."""
    h = Harness()
    lounge = Bookmark(room=ROOM, autojoin=True, nick="alice")
    h.router.handle(BookmarksChanged(account=ALICE, bookmarks=(lounge,)), now=0.0)
    h.timer(0.0)  # the autojoin, id mmx-1
    h.room(self_presence(pid="mmx-1"))
    gone = x(answer(pinged(h), "item-not-found", by="muc.example.net"))
    assert h.room(gone) == [Discard(stanza=gone, reason=DiscardReason.KEEPALIVE)]
    garden = Bookmark(room=OTHER_ROOM, autojoin=True, nick="alice")
    h.router.handle(BookmarksChanged(account=ALICE, bookmarks=(lounge, garden)), now=h.now)
    assert h.router.upcoming() == [(900.0, "autojoin", ALICE, OTHER_ROOM)]
    [join_garden] = h.timer(900.0)
    assert isinstance(join_garden, Send)
    assert join_garden.stanza.to == OTHER_ROOM.with_resource("alice")


def test_each_room_keeps_its_own_keepalive_deadline_under_one_timer_per_account() -> None:
    """Two rooms joined 300 s apart are pinged 300 s apart; the account holds one timer.

    The earliest room deadline is the account's timer; a room that answers, or that the
    account leaves, moves it to the next one.
    """
    h = Harness()
    h.joined(PHONE)
    h.now = 300.0
    h.joined(PHONE, room=OTHER_ROOM)
    assert h.router.upcoming() == [
        (900.0, "ping", ALICE, ROOM),
        (1200.0, "ping", ALICE, OTHER_ROOM),
    ]
    keys = [key for _, key in h.router._core.timers.items()]
    assert keys == [("ping", ALICE, ALICE)]

    ping_id = pinged(h, 900.0)
    assert h.router.next_deadline() == 960.0  # Config.keepalive_timeout for the lounge only
    assert h.room(x(answer(ping_id))) == [
        Discard(stanza=x(answer(ping_id)), reason=DiscardReason.KEEPALIVE)
    ]
    assert h.router.upcoming() == [
        (1200.0, "ping", ALICE, OTHER_ROOM),
        (1800.0, "ping", ALICE, ROOM),
    ]

    garden = OTHER_ROOM.with_resource("alice")
    h.session(PHONE, x(f"<presence to='{garden}' type='unavailable' id='l1'/>"))
    assert h.router.upcoming() == [
        (930.0, "leave-timeout", ALICE, OTHER_ROOM),
        (1800.0, "ping", ALICE, ROOM),
    ]
    # The garden's leave timed out (the phone is told it is out); no ping for it.
    [told, again] = h.timer(1200.0)
    assert isinstance(told, Deliver) and told.session == PHONE
    assert (told.stanza.from_, told.stanza.type, told.stanza.id) == (garden, "unavailable", "l1")
    assert again == Send(
        stanza=x(
            f"<presence from='alice@example.org' to='{garden}' type='unavailable' id='mmx-2'/>"
        )
    )
    assert h.router.upcoming() == [
        (1230.0, "leave-timeout", ALICE, OTHER_ROOM),
        (1800.0, "ping", ALICE, ROOM),
    ]
    assert h.timer(1230.0) == []
    assert h.router.next_deadline() == 1800.0


@pytest.mark.parametrize(
    "room_text",
    [
        "\u0386\u0345@muc.example.net",  # a capital whose lower case NFC composes further
        "lounge@muc.example.net..",  # a second trailing dot
    ],
)
def test_a_room_answering_as_the_router_wrote_its_jid_is_that_room(room_text: str) -> None:
    """RFC 7622 §3.2-3.3: the room's JID as the router writes it names the same room, so
    the room's self-presence joins it and item-not-found by it means joined under another
    nick, not the room gone (XEP-0410 §3.2)."""
    try:
        JID.parse(room_text)
    except InvalidJID:
        return  # no such address: nothing can be sent to it
    h = Harness()
    sent = h.session(PHONE, x(f"<presence to='{room_text}/alice' id='j1'>{MUC_JOIN}</presence>"))
    joins = [a for a in sent if isinstance(a, Send)]
    assert len(joins) == 1 and joins[0].stanza.to is not None
    written = str(joins[0].stanza.to.bare)  # the room's JID as the room gets it
    room = JID.parse(written)
    h.room(self_presence(room=room))
    h.room(subject(room=room))
    rooms = h.router._core.table.accounts[ALICE].rooms
    assert list(rooms) == [room]
    assert rooms[room].state is OccupancyState.JOINED
    ping_id = pinged(h)
    stanza = x(
        f"<iq type='error' from='{written}/alice' to='alice@example.org' id='{ping_id}'>"
        f"<error type='cancel' by='{written}'><item-not-found"
        " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    assert h.room(stanza) == [Discard(stanza=stanza, reason=DiscardReason.KEEPALIVE)]
    assert rooms[room].state is OccupancyState.JOINED
    assert h.router.next_deadline() == 1800.0


@pytest.mark.parametrize("by", ["lounge@muc.example.net/alice", "Lounge@MUC.Example.net/Bob"])
def test_item_not_found_by_an_occupant_jid_of_the_room_is_the_room_s(by: str) -> None:
    """XEP-0410 §3.2: an error ``by`` the room's occupant JID comes from the room, which
    exists: joined under another nick, not the room gone (nor its bookmark blocked)."""
    h = Harness()
    h.joined(PHONE)
    stanza = x(answer(pinged(h), "item-not-found", by=by))
    assert h.room(stanza) == [Discard(stanza=stanza, reason=DiscardReason.KEEPALIVE)]
    assert occ(h).state is OccupancyState.JOINED
    assert h.router.next_deadline() == 1800.0


def test_item_not_found_by_neither_the_room_nor_its_service_is_a_rejoin() -> None:
    """XEP-0410 §3.2: an item-not-found by text that is no JID, or by another entity, says
    nothing sure about the room: as any other error, the account joins again (the join's
    answer settles it) and the room is not given up nor its bookmark blocked."""
    for by in ("lounge@muc.example.net/", "conference.example.org", "example.net"):
        h = Harness()
        h.joined(PHONE)
        bookmark_lounge(h)
        unclear = x(answer(pinged(h), "item-not-found", by=by))
        actions = h.room(unclear)
        assert actions[0] == Discard(stanza=unclear, reason=DiscardReason.KEEPALIVE)
        assert [type(a) for a in actions[1:]] == [Send]
        assert occ(h).state is OccupancyState.REJOIN_SENT
        assert not h.router._core.table.accounts[ALICE].blocked


@pytest.mark.parametrize("by", ["muc.example.net/conference", "MUC.Example.net./x"])
def test_item_not_found_by_a_resource_of_the_room_s_service_is_the_room_gone(by: str) -> None:
    """XEP-0410 §3.2, RFC 7622 §3.2-3.4: ``domain/resource`` is an entity of the service
    itself, as an occupant JID is of the room: its item-not-found means the room no longer
    exists. The sessions are told (333) and the bookmark is blocked; no join, which would
    make the room anew."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    bookmark_lounge(h)
    gone = x(answer(pinged(h), "item-not-found", by=by))
    removal = (
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='{to}'>"
        "<status>The room no longer exists</status><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<item affiliation='member' role='none'/><status code='110'/><status code='333'/></x></presence>"
    )
    assert h.room(gone) == [
        Discard(stanza=gone, reason=DiscardReason.KEEPALIVE),
        Deliver(session=PHONE, stanza=x(removal.format(to=PHONE))),
        Deliver(session=LAPTOP, stanza=x(removal.format(to=LAPTOP))),
    ]
    assert h.router.occupancy(ALICE, ROOM) is None
    assert list(h.router._core.table.accounts[ALICE].blocked) == [ROOM]
