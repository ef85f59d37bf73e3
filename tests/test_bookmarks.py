"""Membership that outlives devices: XEP-0402 autojoin, grace, archive, push, device positions."""

from __future__ import annotations

import pytest

from helpers import (
    ALICE,
    LAPTOP,
    PHONE,
    ROOM,
    Harness,
    archived,
    bodies,
    groupchat,
    join,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import (
    JID,
    Archive,
    Bookmark,
    BookmarksChanged,
    Config,
    Deliver,
    Discard,
    DiscardReason,
    LocalProtocolError,
    OccupancyState,
    Router,
    Send,
    Unattended,
)

GARDEN = JID.parse("garden@muc.example.net")


def bookmarks(h: Harness, *marks: Bookmark) -> list[object]:
    return list(h.router.handle(BookmarksChanged(account=ALICE, bookmarks=marks), now=h.now))


def occ(h: Harness, room: JID = ROOM):  # type: ignore[no-untyped-def]
    return h.router._core.table.accounts[ALICE].rooms[room]


def autojoined(h: Harness) -> None:
    """An autojoin bookmark for ROOM, joined with bob inside and a subject, no session."""
    bookmarks(h, Bookmark(room=ROOM, autojoin=True, nick="alice"))
    h.timer(h.now)
    h.room(occupant("bob"))
    h.room(self_presence())
    h.room(subject())


def test_autojoin_bookmark_joins_the_account_with_its_nick_and_password() -> None:
    """XEP-0402 §3: autojoin means joined, with the bookmark's nick and password."""
    h = Harness()
    assert (
        bookmarks(
            h, Bookmark(room=ROOM, autojoin=True, nick="al", password="pw"), Bookmark(room=GARDEN)
        )
        == []
    )
    assert h.router.next_deadline() == 0.0
    assert h.timer(0.0) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/al' id='mmx-1'>"
                "<x xmlns='http://jabber.org/protocol/muc'><password>pw</password></x></presence>"
            )
        )
    ]
    assert h.router._core.table.accounts[ALICE].wanted(ROOM)
    assert occ(h).state is OccupancyState.JOINING
    assert GARDEN not in h.router._core.table.accounts[ALICE].rooms


def test_autojoins_are_spread_out_in_time() -> None:
    """Config.autojoin_interval: one join per tick, so hundreds of bookmarks do not flood."""
    h = Harness(Router(Config(autojoin_interval=2.0)))
    rooms = [JID.parse(f"r{n}@muc.example.net") for n in range(3)]
    bookmarks(h, *(Bookmark(room=r, autojoin=True) for r in rooms))
    sent = []
    for at in (0.0, 1.0, 2.0, 4.0, 6.0):
        sent += [str(a.stanza.to) for a in h.timer(at) if isinstance(a, Send)]
    assert sent == [
        "r0@muc.example.net/alice",
        "r1@muc.example.net/alice",
        "r2@muc.example.net/alice",
    ]
    # What is left to wait for is each join's own deadline (Config.join_timeout).
    assert h.router.next_deadline() == 60.0


def test_a_service_given_its_own_interval_is_joined_at_its_own_pace() -> None:
    """Config.autojoin_intervals: the server's own service fast, a remote one at the default."""
    config = Config(autojoin_interval=2.0, autojoin_intervals={"MUC.example.net": 0.5})
    h = Harness(Router(config))
    own = [JID.parse(f"r{n}@muc.example.net") for n in range(3)]
    remote = [JID.parse(f"g{n}@chat.example.org") for n in range(2)]
    bookmarks(h, *(Bookmark(room=r, autojoin=True) for r in (*own, *remote)))
    sent = {}
    for at in (0.0, 0.5, 1.0, 1.5, 2.0, 4.0):
        sent[at] = [str(a.stanza.to) for a in h.timer(at) if isinstance(a, Send)]
    assert sent == {
        0.0: ["r0@muc.example.net/alice", "g0@chat.example.org/alice"],
        0.5: ["r1@muc.example.net/alice"],
        1.0: ["r2@muc.example.net/alice"],
        1.5: [],
        2.0: ["g1@chat.example.org/alice"],
        4.0: [],
    }


def test_a_host_that_calls_late_gets_every_join_whose_turn_came() -> None:
    """A host that runs its timers once a second still joins four rooms a second on a
    service paced at 0.25 s: the pace is the configuration's, not the host's loop's."""
    h = Harness(Router(Config(autojoin_intervals={"muc.example.net": 0.25})))
    rooms = [JID.parse(f"r{n}@muc.example.net") for n in range(6)]
    bookmarks(h, *(Bookmark(room=r, autojoin=True) for r in rooms))
    sent = {at: [str(a.stanza.to) for a in h.timer(at) if isinstance(a, Send)] for at in (0, 1, 2)}
    assert sent == {
        0: ["r0@muc.example.net/alice"],
        1: [f"r{n}@muc.example.net/alice" for n in (1, 2, 3, 4)],
        2: ["r5@muc.example.net/alice"],
    }


def test_room_traffic_with_no_session_is_kept_archived_and_announced() -> None:
    """N1: messages reach the account while every device sleeps; push gets told (Unattended)."""
    h = Harness()
    autojoined(h)
    bob = occupant("carol")
    assert h.room(bob) == [Discard(stanza=bob, reason=DiscardReason.NO_SESSION)]
    hello = groupchat("hello all")
    assert h.room(hello) == [
        archived(hello),
        Unattended(account=ALICE, room=ROOM, stanza=hello, mentions=False),
    ]
    ping = groupchat("Alice, are you there?", mid="m2")
    assert h.room(ping)[1] == Unattended(account=ALICE, room=ROOM, stanza=ping, mentions=True)
    pm = x(
        "<message type='chat' from='lounge@muc.example.net/bob' to='alice@example.org'><body>psst</body></message>"
    )
    # XEP-0045 §7.5: a private message is kept and archived like a room message, then pushed.
    kept, push = h.room(pm)
    assert isinstance(kept, Archive)
    assert isinstance(push, Unattended)
    assert push.mentions


def test_a_device_joining_later_gets_what_came_while_it_slept() -> None:
    """The late join is answered from the account's state, history included."""
    h = Harness()
    autojoined(h)
    h.now = 10.0
    h.room(groupchat("while you slept"))
    actions = h.session(PHONE, join(jid="p1"))
    assert bodies(actions) == ["while you slept"]
    assert actions[1] == Deliver(session=PHONE, stanza=self_presence(pid="p1").with_to(PHONE))


def test_last_session_leaving_a_bookmarked_room_keeps_the_account_in() -> None:
    """Autojoin keeps the account joined: the session alone is told it left."""
    h = Harness()
    autojoined(h)
    h.session(PHONE, join(jid="p1"))
    [told] = h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    assert isinstance(told, Deliver)
    assert occ(h).state is OccupancyState.JOINED


def test_autojoin_off_leaves_once_everywhere() -> None:
    """N4: autojoin false (or the bookmark gone): the account leaves; every session hears it."""
    h = Harness()
    autojoined(h)
    h.session(PHONE, join(jid="p1"))
    h.session(LAPTOP, join(jid="l1"))
    assert bookmarks(h, Bookmark(room=ROOM, autojoin=False)) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-2'/>"
            )
        )
    ]
    answer = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/><status code='110'/></x></presence>"
    )
    assert h.room(answer) == [
        Deliver(session=PHONE, stanza=answer.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=answer.with_to(LAPTOP)),
    ]
    assert h.router._core.table.accounts == {}


def test_bookmark_removed_before_its_turn_is_not_joined() -> None:
    """The queue checks the bookmark set when the join's turn comes."""
    h = Harness()
    bookmarks(h, Bookmark(room=ROOM, autojoin=True))
    bookmarks(h)
    assert h.timer(0.0) == []
    assert h.router._core.table.accounts == {}


def test_bookmark_for_a_room_a_session_already_joined_pins_it() -> None:
    """A session's room becomes an autojoin room: nothing to send, the account just stays."""
    h = Harness()
    h.joined(PHONE)
    assert bookmarks(h, Bookmark(room=ROOM, autojoin=True)) == []
    assert h.timer(0.0) == []
    assert h.closed(PHONE) == []
    assert h.timer(130.0) == []  # no grace period runs out: the bookmark keeps it
    assert occ(h).state is OccupancyState.JOINED


def test_disconnect_grace_keeps_the_account_for_a_returning_phone() -> None:
    """Config.disconnect_grace: a disconnect is not a leave; no rejoin storm for a flaky phone."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(LAPTOP, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    assert h.closed(PHONE) == []
    assert h.router.next_deadline() == 120.0
    h.now = 60.0
    message = groupchat("while you were away")
    assert h.room(message) == [
        archived(message),
        Unattended(account=ALICE, room=ROOM, stanza=message, mentions=False),
    ]
    actions = h.session(PHONE, join(jid="back"))
    assert (
        Deliver(
            session=PHONE,
            stanza=message.with_to(PHONE).replace(
                children=(
                    *message.children,
                    x(
                        "<message><delay xmlns='urn:xmpp:delay' from='lounge@muc.example.net' stamp='1970-01-01T00:01:00Z'/></message>"
                    ).children[0],
                )
            ),
        )
        in actions
    )
    assert h.timer(120.0) == []


def test_nobody_back_within_the_grace_means_the_account_leaves() -> None:
    """After the grace period the room sees the account leave."""
    h = Harness()
    h.joined(PHONE)
    h.closed(PHONE)
    assert h.timer(120.0) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-1'/>"
            )
        )
    ]


def test_a_returning_device_gets_exactly_what_it_missed() -> None:
    """Like an IRC bouncer: per-device positions, for a device asking for no specific history."""
    h = Harness(Router(Config(default_history_messages=1)))
    h.joined(PHONE, LAPTOP)
    h.room(groupchat("before", mid="b"))
    h.session(LAPTOP, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    for n in range(3):
        h.room(groupchat(f"missed {n}", mid=f"m{n}"))
    back = h.session(LAPTOP, join(jid="again"))
    ids = [
        a.stanza.id for a in back if isinstance(a, Deliver) and a.stanza.find("body") is not None
    ]
    assert ids == ["m0", "m1", "m2"]
    # The position is used once; a later return without leaving again gets the default.
    again = h.session(LAPTOP, join(jid="again2"))
    assert [
        a.stanza.id for a in again if isinstance(a, Deliver) and a.stanza.find("body") is not None
    ] == ["m2"]


def test_device_positions_expire_and_yield_to_explicit_requests() -> None:
    """Config.device_memory; an explicit <history/> always wins."""
    h = Harness(Router(Config(default_history_messages=1, device_memory=10.0)))
    h.joined(PHONE, LAPTOP)
    h.session(LAPTOP, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    h.room(groupchat("a", mid="a"))
    h.room(groupchat("b", mid="b"))
    h.now = 100.0
    late = h.session(LAPTOP, join(jid="late"))
    assert [
        a.stanza.id for a in late if isinstance(a, Deliver) and a.stanza.find("body") is not None
    ] == ["b"]


def test_archive_can_be_turned_off_and_drops_spoofed_ids() -> None:
    """Config.archive; XEP-0359 §5: a stanza-id 'by' the account itself is a spoof."""
    h = Harness(Router(Config(archive=False)))
    h.joined(PHONE)
    message = groupchat("x")
    assert h.room(message) == [Deliver(session=PHONE, stanza=message.with_to(PHONE))]
    h2 = Harness()
    h2.joined(PHONE)
    spoofed = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='s'><body>x</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='fake'/></message>"
    )
    assert h2.room(spoofed)[0] == archived(
        x(
            "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='s'><body>x</body></message>"
        )
    )
    # A stanza-id by a third party is no spoof of the account's archive: it stays.
    relayed = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='r'><body>y</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='relay.example' id='r1'/></message>"
    )
    assert h2.room(relayed)[0] == archived(relayed)


def test_bookmarks_for_a_full_jid_are_host_misuse() -> None:
    """BookmarksChanged names an account: a bare JID."""
    h = Harness()
    with pytest.raises(LocalProtocolError, match="not a bare JID"):
        h.router.handle(BookmarksChanged(account=PHONE, bookmarks=()), now=0.0)


def test_bookmark_changes_leave_session_rooms_alone() -> None:
    """Only rooms a bookmark pinned are left when it goes; a session's room stays."""
    h = Harness()
    h.joined(PHONE)
    assert bookmarks(h, Bookmark(room=GARDEN, autojoin=False)) == []
    assert occ(h).state is OccupancyState.JOINED


def test_bookmark_removed_while_the_account_is_leaving_changes_nothing() -> None:
    """The account is already on its way out; the session waiting to rejoin still will."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    h.session(LAPTOP, join(jid="l1"))
    assert bookmarks(h, Bookmark(room=ROOM, autojoin=True)) == []
    assert occ(h).state is OccupancyState.LEAVING
    assert bookmarks(h) == []
    assert list(occ(h).pending) == [LAPTOP]


def test_queued_join_of_an_account_that_lost_its_bookmark_is_skipped() -> None:
    """The account still exists (another room) but no longer wants this one."""
    h = Harness(Router(Config(autojoin_interval=5.0)))
    h.joined(PHONE, room=GARDEN)
    bookmarks(h, Bookmark(room=ROOM, autojoin=True))
    bookmarks(h)
    assert h.timer(0.0) == []
    assert list(h.router._core.table.accounts[ALICE].rooms) == [GARDEN]


def test_device_positions_are_bounded() -> None:
    """At most Config.max_sessions_per_room remembered devices per room; the oldest goes."""
    h = Harness(Router(Config(max_sessions_per_room=2)))
    h.joined(PHONE)
    h.room(groupchat("m"))
    tablet = JID.parse("alice@example.org/tablet")
    watch = JID.parse("alice@example.org/watch")
    leave = x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>")
    for device in (tablet, watch, LAPTOP):
        h.session(device, join(jid=None))
        h.session(device, leave)
    positions = h.router._core.table.accounts[ALICE].memory[ROOM].positions
    assert list(positions) == [watch, LAPTOP]


def test_an_autojoin_that_creates_the_room_lets_it_go() -> None:
    """XEP-0045 §10.1.1: a room the autojoin created stays locked until configured; nobody
    asked for it, so the account leaves (the room goes away) and the bookmark does not
    create it again until it changes or a device joins."""
    h = Harness()
    bookmarks(h, Bookmark(room=ROOM, autojoin=True))
    h.timer(0.0)
    created = self_presence(codes=(110, 201), role="moderator", affiliation="owner")
    assert h.room(created) == [
        Discard(stanza=created, reason=DiscardReason.NO_SESSION),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-2'/>"
            )
        ),
    ]
    gone = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org' id='mmx-2'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='none'/>"
        "<status code='110'/></x></presence>"
    )
    assert h.room(gone) == [Discard(stanza=gone, reason=DiscardReason.NO_SESSION)]
    # The same bookmarks again: nothing happens; a changed bookmark tries again.
    assert bookmarks(h, Bookmark(room=ROOM, autojoin=True)) == []
    assert h.router.next_deadline() is None
    bookmarks(h, Bookmark(room=ROOM, autojoin=True, nick="al"))
    assert h.router.next_deadline() == 0.2  # Config.autojoin_interval after the last


KICKED = (
    "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
    "<status code='307'/><status code='110'/></x></presence>"
)


def test_a_kicked_account_is_not_rejoined_by_an_unrelated_bookmark_change() -> None:
    """XEP-0045 §8.2: a kick is the account's business; the bookmark as it was keeps it out
    until the user changes that bookmark (or a device joins)."""
    h = Harness()
    autojoined(h)
    kicked = x(KICKED)
    assert h.room(kicked) == [Discard(stanza=kicked, reason=DiscardReason.NO_SESSION)]
    unrelated = Bookmark(room=GARDEN, autojoin=False)
    assert bookmarks(h, Bookmark(room=ROOM, autojoin=True, nick="alice"), unrelated) == []
    assert h.router.next_deadline() is None
    bookmarks(h, Bookmark(room=ROOM, autojoin=True, nick="alice2"))
    [again] = h.timer(h.router.next_deadline() or 0.0)
    assert isinstance(again, Send)
    assert again.stanza.to == ROOM.with_resource("alice2")


def test_a_rejoin_refused_for_good_keeps_a_bookmarked_room_out() -> None:
    """Banned meanwhile (§9.1): the rejoin's forbidden ends it; the bookmark does not retry."""
    h = Harness()
    autojoined(h)
    h.session(PHONE, join(jid="p1"))
    shutdown = x(KICKED.replace("307", "332"))
    assert h.room(shutdown) == [Discard(stanza=shutdown, reason=DiscardReason.REJOINING)]
    [rejoin] = h.timer(h.now + 5.0)
    assert isinstance(rejoin, Send)
    banned = x(
        f"<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org' id='{rejoin.stanza.id}'>"
        "<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    actions = h.room(banned)
    assert actions[0] == Discard(stanza=banned, reason=DiscardReason.REJOINING)
    assert [type(a) for a in actions[1:]] == [Deliver]
    assert ROOM in h.router._core.table.accounts[ALICE].blocked
    assert h.router.next_deadline() is None


def test_a_bookmarked_room_is_tried_for_good_after_the_sessions_are_told() -> None:
    """Config.max_rejoin_attempts: the devices learn they are out (333); the bookmark keeps
    the account trying, at the longest wait."""
    h = Harness(Router(Config(max_rejoin_attempts=1)))
    autojoined(h)
    h.session(PHONE, join(jid="p1"))
    h.room(x(KICKED.replace("307", "332")))
    h.timer(h.now + 5.0)
    told = h.timer(h.now + 5.0 + 60.0)
    assert [(type(a), a.session) for a in told if isinstance(a, Deliver)] == [(Deliver, PHONE)]
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None
    assert view.state.value == "rejoin-wait"
    assert view.attached == ()


def test_a_queued_autojoin_waits_for_room_under_the_account_bound() -> None:
    """Config.max_rooms_per_account: autojoins count against it; a session that took the
    last place first wins, and the queued join is not made."""
    h = Harness(Router(Config(max_rooms_per_account=1, autojoin_interval=5.0)))
    bookmarks(h, Bookmark(room=ROOM, autojoin=True))
    h.session(PHONE, join(room=GARDEN))
    assert h.timer(0.0) == []
    assert list(h.router._core.table.accounts[ALICE].rooms) == [GARDEN]


def test_a_leave_unanswered_after_a_rejoin_the_room_took_is_said_again() -> None:
    """XEP-0045 §7.14: the bookmark goes while the account's rejoin is on its way; the room
    takes the rejoin, and the leave is lost (or overtook the rejoin). At
    Config.leave_timeout the leave is said once more, so no ghost of the account stays."""
    h = Harness()
    autojoined(h)
    shutdown = x(KICKED.replace("307", "332"))
    assert h.room(shutdown) == [Discard(stanza=shutdown, reason=DiscardReason.REJOINING)]
    [rejoin] = h.timer(h.now + 5.0)
    assert isinstance(rejoin, Send) and occ(h).state is OccupancyState.REJOIN_SENT
    leave = "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='{}'/>"
    assert bookmarks(h) == [Send(stanza=x(leave.format("mmx-3")))]
    back = self_presence().replace(id=rejoin.stanza.id)
    assert h.room(back) == [Discard(stanza=back, reason=DiscardReason.STALE)]  # nobody waits
    assert h.timer(h.now + 30.0) == [Send(stanza=x(leave.format("mmx-4")))]
    assert occ(h).state is OccupancyState.LEAVING
    out = self_presence().replace(type="unavailable", id="mmx-4")
    assert h.room(out) == [Discard(stanza=out, reason=DiscardReason.NO_SESSION)]
    assert h.router.occupancy(ALICE, ROOM) is None


def test_a_join_that_succeeds_after_failed_tries_starts_the_rejoin_count_afresh() -> None:
    """Config.max_rejoin_attempts counts tries since the account was last in.

    The bookmarked room refused the autojoin (full: wait), its rejoins went unanswered; a
    device joins while the third is in flight, and the room admits the account. The room
    then drops it (333): that is a first failure, tried again after ``rejoin_delay``. The
    tries before the join counted on, and the device was told it is out at once.
    """
    h = Harness(Router(Config(max_rejoin_attempts=3)))
    bookmarks(h, Bookmark(room=ROOM, autojoin=True, nick="alice"))
    h.timer(0.0)
    full = x(
        f"<presence type='error' from='{ROOM}/alice' to='{ALICE}' id='mmx-1'><error type='wait'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    h.room(full)
    h.timer(10.0)  # the first rejoin, unanswered
    h.timer(70.0)
    h.timer(90.0)  # the second
    assert h.session(PHONE, join(jid="p1")) == []
    h.room(self_presence(pid="mmx-3"))
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None and view.state is OccupancyState.JOINED
    h.now = 100.0
    dropped = x(KICKED.replace("307", "333"))
    assert h.room(dropped) == [Discard(stanza=dropped, reason=DiscardReason.REJOINING)]
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None and view.state is OccupancyState.REJOIN_WAIT
    assert view.attached == (PHONE,)
    assert h.router.upcoming() == [(105.0, "rejoin", ALICE, ROOM)]


def test_a_kick_during_the_second_leave_keeps_a_bookmark_set_meanwhile_out() -> None:
    """XEP-0045 §8.2: the room kicks the account before it takes the leave said once more;
    an autojoin bookmark came meanwhile. As a kick while joined, it keeps the account out
    until that bookmark changes or a device joins: it was rejoined at once."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(f"<presence to='{ROOM}/alice' type='unavailable' id='u1'/>"))
    h.timer(30.0)  # no answer: the leave is said once more
    h.now = 35.0
    assert bookmarks(h, Bookmark(room=ROOM, autojoin=True, nick="alice")) == []
    kicked = x(KICKED)
    assert h.room(kicked) == [Discard(stanza=kicked, reason=DiscardReason.NO_SESSION)]
    assert h.router.occupancy(ALICE, ROOM) is None
    assert h.router.upcoming() == []
    # The user asking again (the bookmark changes) joins.
    bookmarks(h, Bookmark(room=ROOM, autojoin=True, nick="al"))
    [due] = h.router.upcoming()
    assert due[1:] == ("autojoin", ALICE, ROOM)


def _device_joins_during_the_retry(h: Harness, at: float, named: str) -> None:
    """The autojoin's retry goes out at ``at``; the room names ``named``, the laptop joins
    and gets that presence, then the room's answer to the retry reaches it."""
    [retry] = h.timer(at)
    assert isinstance(retry, Send) and retry.stanza.id == "mmx-2"
    presence = occupant(named)
    assert h.room(presence) == [Discard(stanza=presence, reason=DiscardReason.NO_SESSION)]
    assert h.session(LAPTOP, join(jid="l1")) == [
        Deliver(session=LAPTOP, stanza=presence.with_to(LAPTOP))
    ]
    assert h.room(self_presence(pid="mmx-2")) == [
        Deliver(session=LAPTOP, stanza=self_presence(pid="l1").with_to(LAPTOP))
    ]


@pytest.mark.parametrize("bound", [10_000, 1])
def test_a_device_joining_while_a_never_joined_room_is_retried_gets_who_is_named_so_far(
    bound: int,
) -> None:
    """XEP-0045 §7.1: the bookmarked room refused the autojoin for now; its retry is in
    flight and the room has named bob when a device joins. The device waits with the
    retry and gets bob now, as a device joining during a join does: it never got him,
    and saw a room without bob. (At Config.max_occupants_per_room the names seen are
    not all known: nobody cached is forgotten.)"""
    h = Harness(Router(Config(max_occupants_per_room=bound)))
    bookmarks(h, Bookmark(room=ROOM, autojoin=True, nick="alice"))
    h.timer(0.0)
    full = x(
        f"<presence type='error' from='{ROOM}/alice' to='{ALICE}' id='mmx-1'><error type='wait'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    h.room(full)
    _device_joins_during_the_retry(h, 10.0, "bob")


def test_whom_an_unanswered_try_named_leaves_room_for_whom_the_retry_names() -> None:
    """XEP-0045 §7.1: the bookmarked room named carol and dave but never answered the
    autojoin; the retry (never in) names erin, and a device joins. With room for two
    occupants cached, the earlier try's filled it and erin was not kept: the device
    never got her, and its list lacked her though there was room. Nobody saw what the
    unanswered try named: the retry starts from an empty list."""
    h = Harness(Router(Config(max_occupants_per_room=2)))
    bookmarks(h, Bookmark(room=ROOM, autojoin=True, nick="alice"))
    h.timer(0.0)
    h.room(occupant("carol"))
    h.room(occupant("dave"))
    assert h.timer(60.0) == []  # the join times out: tried again after rejoin_delay
    _device_joins_during_the_retry(h, 70.0, "erin")
    assert list(occ(h).view.occupants) == ["erin"] and not occ(h).view.partial
