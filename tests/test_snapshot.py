"""Snapshots and restarts: membership that survives the process."""

from __future__ import annotations

import gc
import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import (
    ALICE,
    LAPTOP,
    OTHER_ROOM,
    PHONE,
    ROOM,
    THIRD_ROOM,
    Harness,
    archived,
    bodies,
    bookmark_lounge,
    delivered,
    groupchat,
    hashed_as_version_2,
    join,
    leave,
    left,
    names_inline,
    occupant,
    self_presence,
    subject,
    waiting_while_its_memory_goes,
    x,
)
from minimix_core import (
    JID,
    Action,
    Archive,
    Bookmark,
    BookmarksChanged,
    Config,
    Deliver,
    Discard,
    DiscardReason,
    Element,
    FromSession,
    OccupancyState,
    Router,
    Send,
    SnapshotError,
    Stanza,
    ToAccount,
    Unattended,
    serialize,
)
from minimix_core._history import message_key
from minimix_core._stanza import payload_size


def round_trip(router: Router, now: float, *, sessions: bool) -> Router:
    text = json.dumps(router.snapshot(), allow_nan=False)
    return Router.restore(json.loads(text), now=now, config=router.config, sessions=sessions)


def busy(h: Harness) -> None:
    """A router with a bit of everything: two rooms, history, an IQ in flight, timers."""
    bookmark_lounge(h)
    h.joined(PHONE, LAPTOP, others=("bob", "carol"))
    h.timer(h.now)
    h.room(groupchat("one", mid="m1"))
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice'><show>away</show></presence>"))
    h.session(
        LAPTOP,
        x(
            "<iq to='lounge@muc.example.net' type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        ),
    )
    h.joined(PHONE, room=OTHER_ROOM, others=())
    h.session(PHONE, x("<presence to='garden@muc.example.net/al2'/>"))


def test_a_router_s_life_leaves_no_reference_cycle_behind() -> None:
    """What the operations guide's gc.freeze() advice rests on: a router, restored and run,
    is freed by reference counting alone, leaving nothing for the collector."""

    def life() -> None:
        h = Harness()
        busy(h)
        h.room(groupchat("two", mid="m2"))
        h.closed(PHONE)
        restarted = Harness(round_trip(h.router, h.now + 30, sessions=False))
        for at in range(30, 200, 10):
            restarted.timer(h.now + at)
        restarted.router.shutdown(h.now + 200)

    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        life()
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def test_a_restore_holds_one_string_for_each_message_key() -> None:
    """JSON gives a string for each occurrence; the account's memory, the messages passed
    on and the history name the same messages, and the restored router holds one each."""
    h = Harness()
    busy(h)
    restored = round_trip(h.router, h.now, sessions=True)
    account = restored._core.table.accounts[ALICE]
    view = account.rooms[ROOM].view
    assert view.history is not None and view.passed is not None
    [(_, _, key, *_)] = view.history._entries
    [seen] = account.memory[ROOM].seen
    [passed] = view.passed
    assert seen == passed == key
    assert seen is key and passed is key


def test_round_trip_with_sessions_carries_on_identically() -> None:
    """A snapshot through json.dumps/loads gives a router that behaves the same."""
    a = Harness()
    busy(a)
    b = Harness(round_trip(a.router, a.now, sessions=True))
    assert b.router.snapshot() == a.router.snapshot()
    steps: list[Callable[[Harness], list[Action]]] = [
        lambda h: h.room(groupchat("two", mid="m2")),
        lambda h: h.room(
            x("<iq type='result' from='lounge@muc.example.net' to='alice@example.org' id='mmx-1'/>")
        ),
        lambda h: h.session(LAPTOP, join(jid="again")),
        lambda h: h.room(
            x(
                "<presence type='error' from='garden@muc.example.net/al2' to='alice@example.org'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
            )
        ),
        lambda h: h.timer(900.0),
        lambda h: h.closed(PHONE),
        lambda h: h.timer(1200.0),
    ]
    for step in steps:
        assert step(b) == step(a)
    assert b.router.snapshot() == a.router.snapshot()
    assert a.router.next_deadline() == b.router.next_deadline()


def test_restart_rejoins_bookmarked_rooms_and_leaves_the_rest_spread_out() -> None:
    """After a restart the rooms still count the account: rejoin (history since) or leave."""
    h = Harness(Router(Config(autojoin_interval=1.0)))
    h.now = 1_800_000_000.0
    busy(h)
    restarted = Harness(round_trip(h.router, h.now + 30, sessions=False))
    restarted.now = h.now + 30
    start = restarted.now
    assert restarted.router.next_deadline() == start
    first = restarted.timer(start)
    assert first == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='mmx-2'>"
                "<x xmlns='http://jabber.org/protocol/muc'><history since='2027-01-15T08:00:00Z'/></x></presence>"
            )
        )
    ]
    assert restarted.timer(start + 0.5) == []
    assert restarted.timer(start + 1.0) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='garden@muc.example.net/alice' type='unavailable' id='mmx-3'/>"
            )
        )
    ]
    table = restarted.router._core.table.accounts[ALICE]
    assert table.rooms[ROOM].state is OccupancyState.REJOIN_SENT
    assert table.rooms[OTHER_ROOM].state is OccupancyState.LEAVING
    assert table.sessions == {}
    assert table.pending_iqs == {}


def test_a_restart_keeps_the_pace_of_a_service_that_just_took_a_join() -> None:
    """The service (its domain written in another case) takes a join every 10 s; it took
    the lounge's at 0 and the restart comes at 1. The joins made again after the restart
    wait for its turn at 10, then 20, as they would have without the restart."""
    config = Config(autojoin_interval=1.0, autojoin_intervals={"MUC.Example.NET": 10.0})
    h = Harness(Router(config))
    marks = (Bookmark(room=ROOM, autojoin=True), Bookmark(room=OTHER_ROOM, autojoin=True))
    h.router.handle(BookmarksChanged(account=ALICE, bookmarks=marks), now=h.now)
    muc = "<x xmlns='http://jabber.org/protocol/muc'/>"
    lounge = "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='mmx-{}'>"
    assert h.timer(0.0) == [Send(stanza=x(lounge.format(1) + muc + "</presence>"))]
    r = Harness(round_trip(h.router, 1.0, sessions=False))
    assert r.router.next_deadline() == 10.0
    assert r.timer(1.0) == []
    assert r.timer(10.0) == [Send(stanza=x(lounge.format(2) + muc + "</presence>"))]
    assert r.timer(15.0) == []
    assert r.timer(20.0) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='garden@muc.example.net/alice' id='mmx-3'>"
                + muc
                + "</presence>"
            )
        )
    ]


def _in_the_lounge_by_bookmark() -> Harness:
    """The lounge bookmarked (autojoin) and joined with the phone, bob inside, and one
    message seen, at 2027-01-15T08:00:00Z."""
    h = Harness()
    h.now = 1_800_000_000.0
    bookmark_lounge(h)
    h.joined(PHONE, others=("bob",))
    h.timer(h.now)
    h.room(groupchat("seen before", mid="m0"))
    return h


def _restarted(h: Harness) -> Harness:
    """``h``'s router through a snapshot and a process restart a minute later."""
    r = Harness(round_trip(h.router, h.now + 60, sessions=False))
    r.now = h.now + 60
    return r


def _restarted_and_rejoining(h: Harness) -> Harness:
    """:func:`_restarted`, with the bookmarked lounge's rejoin sent."""
    r = _restarted(h)
    [rejoin] = r.timer(r.now)
    assert isinstance(rejoin, Send)
    return r


def test_no_message_is_lost_across_a_restart() -> None:
    """A device that comes back after the restart gets exactly what it missed, once."""
    h = _in_the_lounge_by_bookmark()
    h.closed(PHONE)  # the phone sleeps; the account stays (bookmark)
    h.room(groupchat("while asleep", mid="m1"))
    r = _restarted_and_rejoining(h)
    # The room answers the rejoin; what the account already had is not shown twice.
    assert r.room(occupant("bob")) == [Discard(stanza=occupant("bob"), reason=DiscardReason.RESYNC)]
    assert r.room(self_presence()) == [Discard(stanza=self_presence(), reason=DiscardReason.RESYNC)]
    missed_during_restart = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='m2'><body>during the restart</body>"
        "<delay xmlns='urn:xmpp:delay' from='lounge@muc.example.net' stamp='2027-01-15T08:00:30Z'/></message>"
    )
    assert r.room(missed_during_restart) == [
        archived(missed_during_restart),
        Discard(stanza=missed_during_restart, reason=DiscardReason.NO_SESSION),
    ]
    assert r.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]
    back = r.session(PHONE, join(jid="back"))
    assert bodies(back) == ["while asleep", "during the restart"]
    assert back[0] == Deliver(session=PHONE, stanza=occupant("bob", to=PHONE))


def test_a_device_joining_before_the_rejoin_s_history_arrives_gets_it_before_the_subject() -> None:
    """XEP-0045 §7.2.15: the room answered the restored account's rejoin (bob, the
    self-presence) and has yet to send the history it asked for when the phone joins: the
    phone waits for the room's subject, then is answered from the table, the missed
    message in its history, once, before the subject."""
    h = _in_the_lounge_by_bookmark()
    r = _restarted_and_rejoining(h)
    assert r.room(occupant("bob")) == [Discard(stanza=occupant("bob"), reason=DiscardReason.RESYNC)]
    r.room(self_presence())
    assert r.session(PHONE, join(jid="back")) == []
    missed = groupchat("during the restart", mid="m1", stamp="2027-01-15T08:00:30Z")
    assert r.room(missed) == [
        archived(missed),
        Discard(stanza=missed, reason=DiscardReason.NO_SESSION),
    ]
    assert r.room(missed) == [Discard(stanza=missed, reason=DiscardReason.RESYNC)]
    assert r.room(subject()) == [
        Discard(stanza=subject(), reason=DiscardReason.RESYNC),
        Deliver(session=PHONE, stanza=occupant("bob", to=PHONE)),
        Deliver(session=PHONE, stanza=self_presence(pid="back").with_to(PHONE)),
        Deliver(session=PHONE, stanza=missed.with_to(PHONE)),
        Deliver(session=PHONE, stanza=subject().with_to(PHONE)),
    ]


def test_an_account_forgotten_before_its_restored_leave_is_due() -> None:
    """Kicked, its device memory over first: the account is gone when the queue comes to it."""
    h = Harness(Router(Config(device_memory=0.5)))
    h.joined(PHONE)
    r = round_trip(h.router, 1.0, sessions=False)
    kick = x(
        f"<presence type='unavailable' from='{ROOM}/alice' to='{ALICE}'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
        "<status code='307'/><status code='110'/></x></presence>"
    )
    assert r.handle(ToAccount(stanza=kick), now=1.0) == [
        Discard(stanza=kick, reason=DiscardReason.NO_SESSION)
    ]
    # The queued leave (due at 1.0) comes after the memory's end (1.5) in this call.
    assert r.handle_timer(2.0) == []
    assert r.next_deadline() is None
    assert r.snapshot()["accounts"] == []


def test_a_device_connected_at_the_snapshot_gets_only_what_it_missed_after_the_restart() -> None:
    """The snapshot is taken with the phone connected; the restart ends its session there."""
    h = _in_the_lounge_by_bookmark()
    r = _restarted_and_rejoining(h)
    r.room(occupant("bob"))
    r.room(self_presence())
    r.room(subject())
    missed = groupchat("after the restart", mid="m1")
    assert r.room(missed) == [
        archived(missed),
        Unattended(account=ALICE, room=ROOM, stanza=missed, mentions=False),
    ]
    back = r.session(PHONE, join(jid="back"))
    assert bodies(back) == ["after the restart"]
    # Without the position it had, it would get the whole history again.
    laptop = r.session(LAPTOP, join(jid="new"))
    assert bodies(laptop) == ["seen before", "after the restart"]


def test_restart_drops_an_autojoin_in_flight_and_joins_afresh() -> None:
    """A bookmark join that had no answer yet is simply made again."""
    h = Harness()
    h.router.handle(
        BookmarksChanged(account=ALICE, bookmarks=(Bookmark(room=ROOM, autojoin=True),)), now=0.0
    )
    h.timer(0.0)
    r = round_trip(h.router, 10.0, sessions=False)
    [again] = r.handle_timer(10.0)
    assert isinstance(again, Send)
    assert again.stanza.id == "mmx-2"


def test_restart_forgets_accounts_with_nothing_left() -> None:
    """A session-only account whose rooms were being left is remembered only to leave them."""
    h = Harness(Router(Config(disconnect_grace=0)))
    h.joined(PHONE)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    r = round_trip(h.router, 5.0, sessions=False)
    assert r.handle_timer(5.0) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable' id='mmx-1'/>"
            )
        )
    ]
    answer = x(
        "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'/>"
    )
    assert r.handle(ToAccount(stanza=answer), now=6.0) == [
        Discard(stanza=answer, reason=DiscardReason.NO_SESSION)
    ]
    # What the account remembers of the room (the phone's position) goes after a while.
    assert [a["memory"] != [] for a in r.snapshot()["accounts"]] == [True]
    assert r.handle_timer(6.0 + r.config.device_memory) == []
    assert r.snapshot()["accounts"] == []


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ({}, "not a minimix_core snapshot"),
        ([], "not a minimix_core snapshot"),
        ({"format": "minimix_core.snapshot", "version": 0}, "version 0 is not one of 1 to 5"),
        ({"format": "minimix_core.snapshot", "version": 1}, "malformed snapshot"),
        ({"format": "minimix_core.snapshot", "version": 2}, "malformed snapshot"),
    ],
)
def test_bad_snapshots_fail_clearly(snapshot: object, message: str) -> None:
    """Older or foreign snapshots fail with one typed error that says why."""
    with pytest.raises(SnapshotError, match=message):
        Router.restore(snapshot, now=0.0)  # type: ignore[arg-type]


def test_corrupted_parts_fail_clearly() -> None:
    """A damaged stanza inside a good snapshot is refused, not half-loaded."""
    h = Harness()
    h.joined(PHONE)
    snap = h.router.snapshot()
    snap["accounts"][0]["rooms"][0]["j"][1] = "stream"
    with pytest.raises(SnapshotError, match="not a stanza kind"):
        Router.restore(snap, now=0.0)
    snap = h.router.snapshot()
    snap["accounts"][0]["jid"] = "@@"
    with pytest.raises(SnapshotError, match="malformed"):
        Router.restore(snap, now=0.0)


def test_snapshot_keeps_the_autojoin_queue_and_stanza_ids() -> None:
    """Queued joins and the history's id index survive a round trip."""
    h = Harness(Router(Config(autojoin_interval=5.0)))
    h.joined(PHONE)
    said = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='m'>"
        "<body>x</body><stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='s1'/></message>"
    )
    h.room(said)
    h.router.handle(
        BookmarksChanged(
            account=ALICE,
            bookmarks=(
                Bookmark(room=OTHER_ROOM, autojoin=True),
                Bookmark(room=JID.parse("third@muc.example.net"), autojoin=True),
            ),
        ),
        now=0.0,
    )
    h.timer(0.0)
    moved = round_trip(h.router, 0.0, sessions=True)
    assert moved.snapshot() == h.router.snapshot()
    history = moved._core.table.accounts[ALICE].rooms[ROOM].view.history
    assert history is not None
    assert message_key(said, ROOM) in [key for _, _, key, *_ in history._entries]
    restarted = round_trip(h.router, 1.0, sessions=False)
    # The service took the garden's join at 0: the next waits for its turn, restart or not.
    assert restarted.handle_timer(1.0) == []
    [first] = restarted.handle_timer(5.0)
    assert isinstance(first, Send)


def test_a_room_that_removes_the_account_before_its_restored_leave_is_due() -> None:
    """The restored room was to be left; the room kicks the account first.

    Nothing is left of the account but where its phone was (no session, bookmark or
    room): the queued leave finds nothing to do. It raised KeyError out of handle_timer.
    """
    h = Harness()
    h.joined(PHONE)
    r = round_trip(h.router, 1.0, sessions=False)
    kick = x(
        f"<presence type='unavailable' from='{ROOM}/alice' to='{ALICE}'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
        "<status code='307'/><status code='110'/></x></presence>"
    )
    assert r.handle(ToAccount(stanza=kick), now=1.0) == [
        Discard(stanza=kick, reason=DiscardReason.NO_SESSION)
    ]
    assert r.next_deadline() == 1.0  # the queued leave
    assert r.handle_timer(1.0) == []
    # The phone's place in the room is kept for device_memory, as after any disconnect.
    assert r.next_deadline() == 1.0 + Config().device_memory
    assert r.handle_timer(r.next_deadline() or 0.0) == []
    assert r.next_deadline() is None
    assert r.snapshot()["accounts"] == []


def test_restart_while_rejoining_rejoins() -> None:
    """A room already being rejoined at the restart is rejoined after it."""
    h = Harness()
    h.router.handle(
        BookmarksChanged(account=ALICE, bookmarks=(Bookmark(room=ROOM, autojoin=True),)), now=0.0
    )
    h.joined(PHONE)
    h.room(
        x(
            "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
            "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
            "<status code='332'/><status code='110'/></x></presence>"
        )
    )
    restarted = round_trip(h.router, 2.0, sessions=False)
    [rejoin] = restarted.handle_timer(2.0)
    assert isinstance(rejoin, Send)
    assert rejoin.stanza.to == ROOM.with_resource("alice")


def test_a_device_back_before_the_restored_rejoin_is_due_is_rejoined_with() -> None:
    """A bookmarked room is rejoined at its turn in the queue after a restart; a device
    that joins first makes the rejoin go at once, and waits for it (XEP-0045 §7.2.15: the
    rejoin's history comes before its subject): the turn may be hours away on a big
    server, the device would see nothing of the room until then (once, it saw nothing of
    it again: the occupancy waited to rejoin with no deadline)."""
    h = Harness()
    h.router.handle(
        BookmarksChanged(account=ALICE, bookmarks=(Bookmark(room=ROOM, autojoin=True),)), now=0.0
    )
    h.joined(PHONE)
    restarted = round_trip(h.router, 10.0, sessions=False)
    [rejoin] = restarted.handle(FromSession(session=PHONE, stanza=join(jid="p2")), now=10.0)
    assert isinstance(rejoin, Send) and serialize(rejoin.stanza) == (
        '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1">'
        '<x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/>'
        "</x></presence>"
    )
    assert restarted.handle_timer(10.0) == []  # the room's turn: done already
    view = restarted.occupancy(ALICE, ROOM)
    assert view is not None and view.state is OccupancyState.REJOIN_SENT
    assert view.pending == (PHONE,)
    assert restarted.upcoming() == [(70.0, "rejoin-timeout", ALICE, ROOM)]


def test_a_device_back_before_the_restored_leave_is_due_keeps_the_account_in() -> None:
    """The room no bookmark keeps is left at its turn after a restart, unless a device
    joined it first: the account stays for that device."""
    h = Harness()
    h.joined(PHONE)
    restarted = round_trip(h.router, 1.0, sessions=False)
    restarted.handle(FromSession(session=PHONE, stanza=join(jid="p2")), now=1.0)
    assert restarted.handle_timer(1.0) == []
    view = restarted.occupancy(ALICE, ROOM)
    assert view is not None and view.state is OccupancyState.JOINED
    assert view.attached == (PHONE,)


def test_the_room_a_device_came_back_to_after_a_restart_is_asked_at_once_and_kept_alive() -> None:
    """The restart drops every keep-alive, and the room, long unheard, may have let the
    account go. A device that comes back before the room's turn is answered from the table
    and the room is asked at once (XEP-0410 self-ping); then watched as usual. Once, it was
    not watched at all: a room that forgot the account went unnoticed for good, and the
    device believed it was in."""
    h = Harness()
    h.joined(PHONE)
    restarted = round_trip(h.router, 1.0, sessions=False)
    *answer, ping = restarted.handle(FromSession(session=PHONE, stanza=join(jid="p2")), now=1.0)
    assert [(a.session, a.stanza.from_) for a in answer if isinstance(a, Deliver)] == [
        (PHONE, ROOM.with_resource("bob")),  # from the table
        (PHONE, ROOM.with_resource("alice")),
        (PHONE, ROOM),
    ]
    assert len(answer) == 3
    assert isinstance(ping, Send) and serialize(ping.stanza) == (
        '<iq from="alice@example.org" to="lounge@muc.example.net/alice" type="get" id="mmx-1">'
        '<ping xmlns="urn:xmpp:ping"/></iq>'
    )
    assert restarted.handle_timer(1.0) == []  # the room's turn: done already
    assert restarted.upcoming() == [(61.0, "ping", ALICE, ROOM)]  # the ping's deadline
    answered = x(
        "<iq from='lounge@muc.example.net/alice' to='alice@example.org' type='result' id='mmx-1'/>"
    )
    assert restarted.handle(ToAccount(stanza=answered), now=2.0) == [
        Discard(stanza=answered, reason=DiscardReason.KEEPALIVE)
    ]
    assert restarted.upcoming() == [(902.0, "ping", ALICE, ROOM)]


def test_a_room_that_let_the_account_go_while_the_router_was_down_is_joined_again() -> None:
    """Down for an hour, the room dropped the account. The phone, back, is answered from the
    table; the room's answer to the self-ping says the account is out, and it joins again
    for what it missed."""
    h = Harness()
    h.joined(PHONE)
    restarted = round_trip(h.router, 3600.0, sessions=False)
    *_, ping = restarted.handle(FromSession(session=PHONE, stanza=join(jid="p2")), now=3600.0)
    assert isinstance(ping, Send) and ping.stanza.id == "mmx-1"
    out = x(
        "<iq from='lounge@muc.example.net/alice' to='alice@example.org' type='error' id='mmx-1'>"
        "<error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></iq>"
    )
    done, rejoin = restarted.handle(ToAccount(stanza=out), now=3601.0)
    assert done == Discard(stanza=out, reason=DiscardReason.KEEPALIVE)
    assert isinstance(rejoin, Send) and serialize(rejoin.stanza) == (
        '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-2">'
        '<x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/>'
        "</x></presence>"
    )


def test_a_restored_room_bookmarked_before_its_turn_is_joined_again_not_left() -> None:
    """A bookmark set between the restart and the room's turn keeps the room: at the turn
    the account joins again for what it missed, as for a room bookmarked before the
    restart. It used to leave, then join again once the leave was answered: two needless
    presences for everyone in the room."""
    h = Harness()
    h.joined(PHONE)
    restarted = round_trip(h.router, 1.0, sessions=False)
    mark = Bookmark(room=ROOM, autojoin=True, nick="alice")
    assert restarted.handle(BookmarksChanged(account=ALICE, bookmarks=(mark,)), now=1.0) == []
    [rejoin] = restarted.handle_timer(1.0)
    assert isinstance(rejoin, Send)
    assert serialize(rejoin.stanza) == (
        '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1">'
        '<x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/>'
        "</x></presence>"
    )
    seen = restarted.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.REJOIN_SENT


KICKED = (
    "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
    "<status code='307'/><status code='110'/></x></presence>"
)


def _bookmarked_and_restarted() -> Harness:
    """The lounge joined by its bookmark, with the phone in it; then a restart at 1.0, before
    the lounge's rejoin turn."""
    h = Harness()
    bookmark_lounge(h)
    h.timer(0.0)
    h.joined(PHONE)
    h.router = round_trip(h.router, 1.0, sessions=False)
    h.now = 1.0
    return h


def test_a_bookmarked_room_that_kicks_the_account_before_its_rejoin_turn_stays_left() -> None:
    """After a restart a bookmarked room still has the account until its rejoin's turn: a
    kick then ends the occupancy, as it does while joined (the bookmark is blocked, the
    device that came back is told). It used to be dropped as stale: the device believed
    it was still in, and the rejoin at the turn undid the kick."""
    h = _bookmarked_and_restarted()
    h.session(PHONE, join(jid="back"))
    kick = x(KICKED)
    assert h.room(kick) == [Deliver(session=PHONE, stanza=kick.with_to(PHONE))]
    assert h.router.occupancy(ALICE, ROOM) is None
    assert h.timer(1.0) == []  # the turn: no rejoin of a room that kicked the account
    while (deadline := h.router.next_deadline()) is not None:
        assert h.timer(deadline) == []
    assert h.router.occupancy(ALICE, ROOM) is None


def test_a_restored_room_that_kicks_the_account_with_no_device_back_stays_left() -> None:
    """The same with no device back: the kick ends the occupancy waiting for its turn, no
    one to tell, and the bookmark is blocked; the turn rejoins nothing."""
    h = _bookmarked_and_restarted()
    kick = x(KICKED)
    assert h.room(kick) == [Discard(stanza=kick, reason=DiscardReason.NO_SESSION)]
    assert h.router.occupancy(ALICE, ROOM) is None
    assert list(h.router._core.table.accounts[ALICE].blocked) == [ROOM]
    assert h.timer(1.0) == []


def test_a_room_shutting_down_before_a_restored_rejoin_s_turn_is_rejoined_at_it() -> None:
    """A shutdown (332) is not the account's fault: the restored room's rejoin stays due."""
    h = _bookmarked_and_restarted()
    shutdown = x(KICKED.replace("307", "332"))
    [dropped] = h.room(shutdown)
    assert isinstance(dropped, Discard) and dropped.reason is DiscardReason.STALE
    [rejoin] = h.timer(1.0)
    assert isinstance(rejoin, Send) and rejoin.stanza.to == ROOM.with_resource("alice")


def test_a_restored_room_unbookmarked_before_its_rejoin_turn_is_left() -> None:
    """A bookmark removed between the restart and the room's rejoin turn: the room still
    counts the account, so it is left (leave once, everywhere). It used to be dropped with
    nothing sent, as if the room had forgotten the account: a ghost occupant the room kept
    for good."""
    h = _bookmarked_and_restarted()
    unbookmarked = h.router.handle(BookmarksChanged(account=ALICE, bookmarks=()), now=1.0)
    assert [serialize(a.stanza) for a in unbookmarked if isinstance(a, Send)] == [
        '<presence from="alice@example.org" to="lounge@muc.example.net/alice"'
        ' type="unavailable" id="mmx-2"/>'
    ]
    assert len(unbookmarked) == 1
    seen = h.router.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.LEAVING
    assert h.room(left("mmx-2")) == [Discard(stanza=left("mmx-2"), reason=DiscardReason.NO_SESSION)]
    assert h.router.occupancy(ALICE, ROOM) is None
    assert h.timer(1.0) == []  # its turn: nothing more


def test_a_restored_room_a_device_came_back_to_then_unbookmarked_is_left_everywhere() -> None:
    """The device back makes the account rejoin at once; the bookmark removed then makes it
    leave, and the device gets the room's answer (leave once, everywhere)."""
    h = _bookmarked_and_restarted()
    *_, rejoin = h.session(PHONE, join(jid="back"))
    assert isinstance(rejoin, Send) and rejoin.stanza.id == "mmx-2"
    unbookmarked = h.router.handle(BookmarksChanged(account=ALICE, bookmarks=()), now=1.0)
    assert [serialize(a.stanza) for a in unbookmarked if isinstance(a, Send)] == [
        '<presence from="alice@example.org" to="lounge@muc.example.net/alice"'
        ' type="unavailable" id="mmx-3"/>'
    ]
    assert len(unbookmarked) == 1
    answer = left("mmx-3")
    assert h.room(answer) == [Deliver(session=PHONE, stanza=answer.replace(to=PHONE, id=None))]
    assert h.router.occupancy(ALICE, ROOM) is None
    assert h.timer(1.0) == []  # its turn: nothing more


def test_a_shutdown_leaves_a_restored_room_waiting_for_its_rejoin_turn() -> None:
    """Restored after a restart, a bookmarked room still counts the account until its
    rejoin: a shutdown before the turn leaves it, so no ghost stays behind."""
    h = Harness()
    bookmark_lounge(h)
    h.timer(0.0)
    h.joined(PHONE)
    restarted = round_trip(h.router, 1.0, sessions=False)
    assert [serialize(a.stanza) for a in restarted.shutdown(1.0) if isinstance(a, Send)] == [
        '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable"/>'
    ]


_BOB_GONE = (
    "<presence from='lounge@muc.example.net/bob' to='alice@example.org/phone'"
    " type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'>"
    "<item affiliation='none' role='none'/></x></presence>"
)
_REJOIN = (
    "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='mmx-2'>"
    "<x xmlns='http://jabber.org/protocol/muc'><history since='1970-01-01T00:00:01Z'/></x>"
    "</presence>"
)


def earlier_join_answered() -> Harness:
    """A restart keeps a bookmark's join in flight (mmx-1); a device joins meanwhile (j1),
    and the answer to the old join comes first, naming bob. Rooms need not reflect ids
    (§7.2.2), and 110 alone used to let the account in by it: its id is the earlier join's,
    so it ends a sequence that is not j1's."""
    h = Harness()
    bookmark_lounge(h)
    h.timer(0.0)
    h.router = round_trip(h.router, 1.0, sessions=False)
    h.now = 1.0
    h.session(PHONE, join())
    bob = occupant("bob")
    assert h.room(bob) == [Deliver(session=PHONE, stanza=bob.with_to(PHONE))]
    earlier = self_presence(pid="mmx-1")
    assert h.room(earlier) == [Discard(stanza=earlier, reason=DiscardReason.STALE)]
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.STALE)]
    seen = h.router.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.JOINING
    return h


def answered_then_asked_again(h: Harness, answer: Stanza) -> None:
    """The device's join answered, its sequence ends with the subject: then (not before:
    the rest of the sequence would be taken as known) the account joins again (mmx-2)."""
    assert h.room(answer) == [Deliver(session=PHONE, stanza=answer.with_to(PHONE))]
    assert h.room(subject()) == [
        Deliver(session=PHONE, stanza=subject().with_to(PHONE)),
        Send(stanza=x(_REJOIN)),
    ]
    seen = h.router.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.REJOIN_SENT


def test_a_room_that_forgot_everyone_names_them_no_more_after_an_earlier_join_s_answer() -> None:
    """The room forgot everyone in a restart of its own (no word to anyone), then answered
    the device's join, naming nobody: whom the room named around the earlier answer may
    be of the room before, so once in, the account asks again (§7.2.1), and the rejoin's
    answer names nobody either. Bob used to stay in the device's view for good."""
    h = earlier_join_answered()
    answered_then_asked_again(h, self_presence(pid="j1"))
    rejoined = self_presence(pid="mmx-2")
    assert h.room(rejoined) == [
        Deliver(session=PHONE, stanza=x(_BOB_GONE)),
        Discard(stanza=rejoined, reason=DiscardReason.RESYNC),
    ]
    assert h.room(subject()) == [Discard(stanza=subject(), reason=DiscardReason.RESYNC)]
    seen = h.router.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.JOINED and seen.occupants == ()
    assert h.router.snapshot()["accounts"][0]["rooms"][0].keys().isdisjoint({"er"})
    again = self_presence(pid="j1")
    assert h.room(again) == [Deliver(session=PHONE, stanza=again.with_to(PHONE))]


def test_bob_still_in_after_an_earlier_join_s_answer_is_known_to_the_device() -> None:
    """The room still had bob: the answers to the device's join and the rejoin name him
    again, and the device, which has him, is shown nothing twice."""
    h = earlier_join_answered()
    bob = occupant("bob")
    assert h.room(bob) == [Deliver(session=PHONE, stanza=bob.with_to(PHONE))]
    answered_then_asked_again(h, self_presence(pid="j1"))
    assert h.room(bob) == [Discard(stanza=bob, reason=DiscardReason.RESYNC)]
    rejoined = self_presence(pid="mmx-2")
    assert h.room(rejoined) == [Discard(stanza=rejoined, reason=DiscardReason.RESYNC)]
    seen = h.router.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.JOINED
    assert seen.occupants == ("bob",)


def test_a_room_made_anew_for_a_join_after_a_restart_shows_no_one_from_before() -> None:
    """The room made anew for the device's join answers it with 201; the session that made
    it learns so (§10.1.1), and the rejoin that follows tells it bob, named by the room
    before, is not in it. He used to stay in its view for good."""
    h = earlier_join_answered()
    answered_then_asked_again(h, self_presence(pid="j1", codes=(201, 110)))
    rejoined = self_presence(pid="mmx-2")
    assert h.room(rejoined)[0] == Deliver(session=PHONE, stanza=x(_BOB_GONE))
    seen = h.router.occupancy(ALICE, ROOM)
    assert seen is not None and seen.occupants == ()


def test_a_room_reflecting_no_ids_made_anew_after_a_restart_shows_no_one_from_before() -> None:
    """Without ids, 110 is all there is (§7.2.2): the old join's answer, naming bob, lets the
    account in. The room made anew for the device's join then answers it with 201: nobody
    seen before is in it (§10.1.1), and the device is told they left."""
    h = Harness()
    bookmark_lounge(h)
    h.timer(0.0)
    h.router = round_trip(h.router, 1.0, sessions=False)
    h.now = 1.0
    h.session(PHONE, join())
    h.room(occupant("bob"))
    old = self_presence()
    assert h.room(old) == [Deliver(session=PHONE, stanza=old.with_to(PHONE))]
    made = self_presence(codes=(201, 110))
    assert h.room(made) == [
        Deliver(session=PHONE, stanza=x(_BOB_GONE)),
        Deliver(session=PHONE, stanza=made.with_to(PHONE)),
    ]
    seen = h.router.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.JOINED and seen.occupants == ()


def test_an_earlier_join_s_answer_from_a_room_made_anew_is_no_answer_to_the_last() -> None:
    """The bookmark's join (mmx-1) made the room anew (201), before the device's (j1):
    the session made nothing, and is not told it did; the rejoin once in tells it bob,
    named by the room before, is not in it."""
    h = Harness()
    bookmark_lounge(h)
    h.timer(0.0)
    h.router = round_trip(h.router, 1.0, sessions=False)
    h.now = 1.0
    h.session(PHONE, join())
    h.room(occupant("bob"))
    made = self_presence(pid="mmx-1", codes=(201, 110))
    assert h.room(made) == [Discard(stanza=made, reason=DiscardReason.STALE)]
    answered_then_asked_again(h, self_presence(pid="j1"))
    rejoined = self_presence(pid="mmx-2")
    assert h.room(rejoined)[0] == Deliver(session=PHONE, stanza=x(_BOB_GONE))


def test_the_earlier_requests_are_kept_in_a_snapshot() -> None:
    """The ids of the earlier joins, and whether one's answer came (``null``), are part of
    the table: carried over with the sessions, and over a restart, whose rejoin clears the
    mark. Before version 5 wrote the leave a join followed among them, it had a field of
    its own (``li``); at most four ids are kept."""
    h = earlier_join_answered()
    written = json.loads(json.dumps(h.router.snapshot()))
    room = written["accounts"][0]["rooms"][0]
    assert room["er"] == [None, "mmx-1"]
    moved = Router.restore(written, now=h.now, sessions=True)
    assert moved.snapshot()["accounts"][0]["rooms"][0]["er"] == [None, "mmx-1"]
    h.router = moved
    answered_then_asked_again(h, self_presence(pid="j1"))
    restarted = Router.restore(written, now=h.now)
    restarted.handle_timer(restarted.next_deadline() or 0.0)
    assert restarted.snapshot()["accounts"][0]["rooms"][0]["er"] == ["mmx-1", "j1"]
    room["er"] = ["a", "b", "c", "d"]
    room["li"] = "bye"
    kept = Router.restore(written, now=h.now, sessions=True).snapshot()
    assert kept["accounts"][0]["rooms"][0]["er"] == ["b", "c", "d", "bye"]


def test_a_join_answered_under_its_own_id_awaits_nothing_more() -> None:
    """Rooms keep an occupant's presence with its id and send it again (a role change):
    a self-presence under the join's id, once the account is in by it, asks nothing."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    assert "aw" not in h.router.snapshot()["accounts"][0]["rooms"][0]
    again = self_presence(pid="j1")
    assert h.room(again) == [Deliver(session=PHONE, stanza=again.with_to(PHONE))]


DAVE = JID.parse("dave@example.org")


def test_an_account_moves_to_another_router_with_its_sessions() -> None:
    """DESIGN: a cluster moves an account by moving its snapshot; the rooms notice nothing."""
    here = Harness()
    busy(here)
    dave_phone = DAVE.with_resource("phone")
    here.session(dave_phone, join(room=OTHER_ROOM, nick="dave"))
    here.room(
        x(
            "<presence from='garden@muc.example.net/dave' to='dave@example.org' id='j1'>"
            "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/>"
            "<status code='110'/></x></presence>"
        )
    )
    reference = Harness(round_trip(here.router, here.now, sessions=True))

    snap = json.loads(json.dumps(here.router.snapshot([ALICE])))
    assert [a["jid"] for a in snap["accounts"]] == ["alice@example.org"]
    there = Harness()
    assert there.router.adopt(snap, now=here.now) == [ALICE]
    here.router.forget([ALICE, JID.parse("nobody@example.org")])
    assert list(here.router._core.table.accounts) == [DAVE]

    # Alice carries on there exactly as she would have here.
    steps: list[Callable[[Harness], list[Action]]] = [
        lambda h: h.room(groupchat("moved", mid="m9")),
        lambda h: h.room(
            x("<iq type='result' from='lounge@muc.example.net' to='alice@example.org' id='mmx-1'/>")
        ),
        lambda h: h.session(LAPTOP, join(jid="again")),
        lambda h: h.timer(900.0),
    ]
    for step in steps:
        # Dave's own keep-alive stays behind with dave.
        assert step(there) == [a for a in step(reference) if a.stanza.from_ != DAVE]
    # Dave stays here, and none of alice's timers are left behind: only dave's keep-alive.
    assert [a.stanza.from_ for a in here.router.handle_timer(900.0)] == [DAVE]


def test_adopting_an_account_twice_or_a_bad_snapshot_changes_nothing() -> None:
    """One account lives in one router: a clash is refused before anything changes."""
    h = Harness()
    h.joined(PHONE)
    snap = h.router.snapshot([ALICE])
    before = h.router.snapshot()
    with pytest.raises(SnapshotError, match=r"already holds alice@example\.org"):
        h.router.adopt(snap, now=0.0)
    with pytest.raises(SnapshotError, match="not a minimix_core snapshot"):
        h.router.adopt({}, now=0.0)
    assert h.router.snapshot() == before


def test_adopted_autojoins_join_the_queue() -> None:
    """Bookmark joins still waiting their turn move with the account."""
    h = Harness(Router(Config(autojoin_interval=5.0)))
    h.router.handle(
        BookmarksChanged(
            account=ALICE,
            bookmarks=(
                Bookmark(room=ROOM, autojoin=True),
                Bookmark(room=OTHER_ROOM, autojoin=True),
            ),
        ),
        now=0.0,
    )
    h.timer(0.0)
    h.router.handle(
        BookmarksChanged(account=DAVE, bookmarks=(Bookmark(room=ROOM, autojoin=True),)), now=0.0
    )
    there = Router(Config(autojoin_interval=5.0))
    there.adopt(h.router.snapshot([ALICE]), now=1.0)
    h.router.forget([ALICE])
    assert h.router.next_deadline() == 5.0  # dave's join is still queued here
    h.router.forget([DAVE])
    assert h.router.next_deadline() is None
    # The service took alice's first join at 0.0 from the other router: it waits its
    # interval here too.
    assert there.next_deadline() == 5.0
    assert there.handle_timer(1.0) == []
    [joined] = there.handle_timer(5.0)
    assert isinstance(joined, Send)
    assert joined.stanza.to == OTHER_ROOM.with_resource("alice")


def test_an_adopting_router_keeps_its_own_later_pace_for_a_service() -> None:
    """The service took dave's join from this router after alice's from the other one:
    alice's next join waits for this router's pace, the later of the two."""
    here = Harness(Router(Config(autojoin_interval=5.0)))
    marks = (Bookmark(room=ROOM, autojoin=True), Bookmark(room=OTHER_ROOM, autojoin=True))
    here.router.handle(BookmarksChanged(account=ALICE, bookmarks=marks), now=0.0)
    here.timer(0.0)
    there = Router(Config(autojoin_interval=5.0))
    dave = (Bookmark(room=THIRD_ROOM, autojoin=True),)
    there.handle(BookmarksChanged(account=DAVE, bookmarks=dave), now=2.0)
    [dave_joins] = there.handle_timer(2.0)
    assert isinstance(dave_joins, Send)
    there.adopt(here.router.snapshot([ALICE]), now=3.0)
    assert there.next_deadline() == 7.0
    [joined] = there.handle_timer(7.0)
    assert isinstance(joined, Send)
    assert joined.stanza.to == OTHER_ROOM.with_resource("alice")


V1 = Path(__file__).parent / "fixtures" / "snapshot-v1.json"
"""A version 1 snapshot, as an earlier release wrote it: three rooms, one rejoining after
332, one with a nick change in flight, one being left; an autojoin bookmark."""


def test_a_version_1_snapshot_still_restores() -> None:
    """Old snapshots restore: the rejoin is due, the nick change and the leave go on."""
    old = json.loads(V1.read_text())
    assert old["version"] == 1
    router = Router.restore(old, now=1_800_000_010.0, sessions=True)
    account = router._core.table.accounts[ALICE]
    states = {str(room): o.state for room, o in account.rooms.items()}
    assert states == {
        "lounge@muc.example.net": OccupancyState.REJOIN_WAIT,
        "garden@muc.example.net": OccupancyState.JOINED,
        "attic@muc.example.net": OccupancyState.LEAVING,
    }
    garden = account.rooms[OTHER_ROOM]
    assert garden.nick_change is not None and garden.nick_change.sent_id == "n1"
    history = account.rooms[ROOM].view.history
    assert history is not None and len(history) == 1
    [rejoin] = router.handle_timer(1_800_000_010.0)
    assert isinstance(rejoin, Send)
    assert rejoin.stanza.to == ROOM.with_resource("alice")
    assert router.snapshot()["version"] == 5
    # And after a process restart: the bookmarked room is rejoined, the others left.
    restarted = Router.restore(old, now=1_800_000_010.0)
    sent = [a.stanza for a in restarted.handle_timer(1_800_000_010.0)]
    assert [(s.type, str(s.to)) for s in sent] == [(None, "lounge@muc.example.net/alice")]


def test_a_version_1_leave_in_flight_gets_a_deadline_and_no_keepalive() -> None:
    """Version 1 leaves had no deadline and kept pinging the room being left.

    Restored, the attic's leave waited forever for an answer that may never come, and the
    keep-alive pinged the room every minute. It now waits Config.leave_timeout from the
    snapshot's time, as a leave made now would; then the phone gets its unavailable and
    the leave is said once more.
    """
    old = json.loads(V1.read_text())
    for room in old["accounts"][0]["rooms"]:
        if room["state"] == "leaving":
            room["rejoin_attempts"] = 1  # it had been rejoining before its phone left
    router = Router.restore(old, now=1_800_000_010.0, sessions=True)
    attic = JID.parse("attic@muc.example.net")
    assert [d for d in router.upcoming() if d[3] == attic] == [
        (1_800_000_036.0, "leave-timeout", ALICE, attic)
    ]
    router.handle_timer(1_800_000_010.0)  # the lounge's rejoin
    assert router.handle_timer(1_800_000_036.0) == [
        Deliver(
            session=PHONE,
            stanza=x(
                f"<presence from='{attic}/alice' to='{PHONE}' type='unavailable'>"
                "<x xmlns='http://jabber.org/protocol/muc#user'>"
                "<item affiliation='member' role='none'/><status code='110'/></x></presence>"
            ),
        ),
        Send(
            stanza=x(f"<presence from='{ALICE}' to='{attic}/alice' type='unavailable' id='mmx-2'/>")
        ),
    ]


def test_equal_deadlines_fire_in_the_same_order_after_a_restore() -> None:
    """A moved deadline goes behind the others due at the same time; a snapshot keeps that."""
    h = Harness()
    h.session(PHONE, join())
    h.session(PHONE, join(room=OTHER_ROOM))
    h.router._core.timers.schedule(("state", ALICE, ROOM), 60.0)  # moved: now fires last
    moved = round_trip(h.router, 0.0, sessions=True)

    def rooms(actions: list[Action]) -> list[str]:
        return [
            str(a.stanza.from_.bare) for a in actions if isinstance(a, Deliver) and a.stanza.from_
        ]

    expected = rooms(h.router.handle_timer(60.0))
    assert expected == ["garden@muc.example.net", "lounge@muc.example.net"]
    assert rooms(moved.handle_timer(60.0)) == expected


def test_an_adopted_account_keeps_its_presence_order() -> None:
    """The latest presence wins a tie (RFC 6121 §4.7.2.1 ranks, then time): after a move
    the adopting router's own order continues the account's."""
    here = Harness()
    here.joined(PHONE, LAPTOP)
    for session, text in ((PHONE, "phone"), (LAPTOP, "laptop")):
        here.session(
            session,
            x(
                f"<presence to='lounge@muc.example.net/alice'><show>away</show><status>{text}</status></presence>"
            ),
        )
    there = Harness()
    there.router.adopt(json.loads(json.dumps(here.router.snapshot([ALICE]))), now=here.now)
    again = x(
        "<presence to='lounge@muc.example.net/alice'><show>away</show><status>phone again</status></presence>"
    )
    assert there.session(PHONE, again) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice'>"
                "<show>away</show><status>phone again</status></presence>"
            )
        )
    ]


def test_a_blocked_bookmark_survives_a_restart() -> None:
    """A kicked account stays out after a restart, until its bookmark changes."""
    h = Harness()
    h.router.handle(
        BookmarksChanged(account=ALICE, bookmarks=(Bookmark(room=ROOM, autojoin=True),)), now=0.0
    )
    h.timer(0.0)
    h.room(self_presence(pid="mmx-1"))
    h.room(
        x(
            "<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>"
            "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
            "<status code='307'/><status code='110'/></x></presence>"
        )
    )
    restarted = round_trip(h.router, 1.0, sessions=False)
    assert list(restarted._core.table.accounts[ALICE].blocked) == [ROOM]
    assert restarted.next_deadline() is None


def test_a_join_in_flight_at_a_restart_that_no_bookmark_wants_ends_in_a_leave() -> None:
    """Its session is gone with the restart and nothing keeps the account there, but the
    room may admit the join yet: its answer, or its deadline, makes the account leave.
    The restart used to forget it, and a room that admitted it late kept a ghost."""
    h = Harness()
    h.session(PHONE, join())
    leave = (
        '<presence from="alice@example.org" to="lounge@muc.example.net/alice"'
        ' type="unavailable" id="mmx-1"/>'
    )
    answered = round_trip(h.router, 1.0, sessions=False)
    assert answered.upcoming() == [(61.0, "join-timeout", ALICE, ROOM)]
    admitted = self_presence()
    discard, send = answered.handle(ToAccount(stanza=admitted), now=2.0)
    assert discard == Discard(stanza=admitted, reason=DiscardReason.NO_SESSION)
    assert isinstance(send, Send) and serialize(send.stanza) == leave
    unanswered = round_trip(h.router, 1.0, sessions=False)
    [send] = unanswered.handle_timer(61.0)
    assert isinstance(send, Send) and serialize(send.stanza) == leave
    # A device back before the answer gets it: the join in flight is its own now.
    back = round_trip(h.router, 1.0, sessions=False)
    assert back.handle(FromSession(session=PHONE, stanza=join(jid="again")), now=2.0) == []
    [welcome] = back.handle(ToAccount(stanza=admitted), now=3.0)
    assert isinstance(welcome, Deliver) and welcome.session == PHONE
    seen = back.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.JOINED


def test_a_device_back_to_a_room_whose_answer_never_came_whole_makes_the_account_rejoin() -> None:
    """A join answered after a restart with nobody waiting is left; its subject comes while
    leaving and is not kept. The leave is lost, and a second restart holds the room as
    joined until its turn. A device that comes back then is answered from the table, which
    has no subject: asked with a self-ping, the room would confirm the account and the
    subject would never come. It rejoins instead, and the room's answer brings the rest."""
    h = Harness()
    h.session(PHONE, join())
    first = round_trip(h.router, 1.0, sessions=False)
    first.handle(ToAccount(stanza=self_presence()), now=2.0)  # nobody waits: left
    first.handle(ToAccount(stanza=subject()), now=2.0)  # while leaving: not kept
    second = round_trip(first, 3.0, sessions=False)
    seen = second.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.JOINED
    back = second.handle(FromSession(session=PHONE, stanza=join(jid="back")), now=3.0)
    assert [serialize(a.stanza) for a in back] == [
        '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="back">'
        '<x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member"'
        ' role="participant"/><status code="110"/></x></presence>',
        '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-2">'
        '<x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:02Z"/>'
        "</x></presence>",
    ]
    assert isinstance(back[1], Send)
    second.handle(ToAccount(stanza=self_presence(pid="mmx-2")), now=4.0)
    assert second.handle(ToAccount(stanza=subject()), now=4.0) == [
        Deliver(session=PHONE, stanza=subject().with_to(PHONE))
    ]


def _kept_join() -> Harness:
    """The phone's join of the lounge in flight at a restart (no bookmark): kept, waited for."""
    h = Harness()
    h.session(PHONE, join())
    r = Harness(round_trip(h.router, 1.0, sessions=False))
    r.now = 2.0
    return r


def test_a_join_kept_at_a_restart_meets_a_bookmark_a_refusal_or_a_new_room() -> None:
    """What the room says to a join kept at a restart decides, and a bookmark set meanwhile."""
    # A bookmark set before the answer keeps the account in: no leave.
    r = _kept_join()
    bookmark_lounge(r)
    admitted = self_presence()
    assert r.room(admitted) == [Discard(stanza=admitted, reason=DiscardReason.NO_SESSION)]
    seen = r.router.occupancy(ALICE, ROOM)
    assert seen is not None and seen.state is OccupancyState.JOINED
    # A bookmark set before the deadline: the account tries again, as for a bookmarked join.
    r = _kept_join()
    bookmark_lounge(r)
    assert r.timer(61.0) == []
    assert r.router.upcoming() == [(71.0, "rejoin", ALICE, ROOM)]
    [rejoin] = r.timer(71.0)
    assert isinstance(rejoin, Send) and rejoin.stanza.type is None
    # A refusal: nothing to tell anybody, nothing kept, nothing blocked.
    r = _kept_join()
    refusal = x(
        "<presence from='lounge@muc.example.net/alice' to='alice@example.org' type='error'"
        " id='j1'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></presence>"
    )
    assert r.room(refusal) == [Discard(stanza=refusal, reason=DiscardReason.JOIN_REFUSED)]
    assert r.router._core.table.accounts == {}
    assert r.router.next_deadline() is None
    # The room made the room for it (201), or gave it another nick (210): it leaves, under
    # the nick the room gave, and blocks nothing (no bookmark wanted it).
    for nick, codes in (("alice", (110, 201)), ("alice_", (110, 210))):
        r = _kept_join()
        admitted = self_presence(nick, codes=codes)
        discard, send = r.room(admitted)
        assert discard == Discard(stanza=admitted, reason=DiscardReason.NO_SESSION)
        assert isinstance(send, Send) and serialize(send.stanza) == (
            f'<presence from="alice@example.org" to="lounge@muc.example.net/{nick}"'
            ' type="unavailable" id="mmx-1"/>'
        )
        assert r.router._core.table.accounts[ALICE].blocked == {}
    # A second restart before the answer keeps it again, with a fresh deadline.
    r = _kept_join()
    again = round_trip(r.router, 5.0, sessions=False)
    assert again.upcoming() == [(65.0, "join-timeout", ALICE, ROOM)]


def test_an_absent_occupancy_in_a_snapshot_is_refused() -> None:
    """Absent occupancies do not exist; a snapshot that has one was not written by us."""
    h = Harness()
    h.joined(PHONE)
    snap = json.loads(json.dumps(h.router.snapshot()))
    snap["accounts"][0]["rooms"][0]["s"] = "absent"
    with pytest.raises(SnapshotError, match="cannot be absent"):
        Router.restore(snap, now=0.0)


def test_a_version_1_occupancy_without_history_restores() -> None:
    """A room that never sent a message has no history in either version."""
    old = json.loads(V1.read_text())
    for room in old["accounts"][0]["rooms"]:
        room["history"] = None
    router = Router.restore(old, now=1_800_000_010.0, sessions=True)
    assert all(o.view.history is None for o in router._core.table.accounts[ALICE].rooms.values())


def test_each_payload_is_written_once_and_comes_back_exact() -> None:
    """Accounts in one room keep equal presences: the snapshot holds each payload (with the
    stanza's own attributes, such as xml:lang) once, and the restored stanzas are equal."""
    router = Router()
    accounts = [JID.parse(f"user{n}@example.org") for n in range(3)]
    for n, account in enumerate(accounts):
        session, own = account.with_resource("phone"), f"user{n}"
        router.handle(FromSession(session=session, stanza=join(own)), now=0.0)
        for nick in ("bob", own):
            codes = "<status code='110'/>" if nick == own else ""
            presence = (
                f"<presence from='{ROOM}/{nick}' to='{account}' xml:lang='en'>"
                f"<x xmlns='http://jabber.org/protocol/muc#user'>"
                f"<item affiliation='none' role='participant'/>{codes}</x></presence>"
            )
            router.handle(ToAccount(stanza=x(presence)), now=0.0)
    snap = json.loads(json.dumps(router.snapshot()))
    bob_payloads = [p for p in snap["payloads"] if len(p) == 2]  # those with attributes
    assert len(bob_payloads) == 2  # bob's presence and the self-presence, once each
    restored = Router.restore(snap, now=0.0, sessions=True)
    for account in accounts:
        before = router._core.table.accounts[account].rooms[ROOM].view
        after = restored._core.table.accounts[account].rooms[ROOM].view
        assert after.occupants == before.occupants
        assert after.self_presence == before.self_presence
        assert after.occupants["bob"].attrs == (
            ("{http://www.w3.org/XML/1998/namespace}lang", "en"),
        )
    assert restored.snapshot() == snap


def test_missing_jids_and_nicks_in_a_snapshot_are_refused() -> None:
    """A session without a JID, or an occupant with neither a nick nor a resource."""
    h = Harness()
    h.joined(PHONE)
    snap = json.loads(json.dumps(h.router.snapshot()))
    snap["accounts"][0]["rooms"][0]["a"][0][0] = None
    with pytest.raises(SnapshotError, match="a JID is missing"):
        Router.restore(snap, now=0.0)
    snap = json.loads(json.dumps(h.router.snapshot()))
    snap["accounts"][0]["rooms"][0]["v"]["o"] = [[[0, "presence", None, str(ROOM), str(ALICE)]]]
    with pytest.raises(SnapshotError, match="an occupant without a nick"):
        Router.restore(snap, now=0.0)


def test_a_waiting_session_without_its_join_request_is_refused() -> None:
    """The account's next join is made from a waiting session's request: it must be there.

    Attached sessions keep none; a pending one without it loaded, and the room's answer
    to the leave it waited behind raised out of the router when the join was made.
    """
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(f"<presence to='{ROOM}/alice' type='unavailable'/>"))
    h.session(LAPTOP, join(jid="j2"))  # waits for the leave's answer
    snap = json.loads(json.dumps(h.router.snapshot()))
    assert Router.restore(snap, now=0.0, sessions=True).snapshot() == snap
    snap["accounts"][0]["rooms"][0]["p"][0][3] = None
    with pytest.raises(SnapshotError, match="a waiting session without its join request"):
        Router.restore(snap, now=0.0, sessions=True)
    with pytest.raises(SnapshotError, match="a waiting session without its join request"):
        Router().adopt(snap, now=0.0)


def test_a_restart_during_the_second_leave_does_not_count_it_as_a_rejoin_try() -> None:
    """The leave said once more (``Occupancy.attempts`` 1 in ``LEAVING``) is no rejoin try.

    Restarted, the room is held as joined until its queued leave; a device joins first,
    the room then loses the account. Its rejoin is the first try: unanswered, it is tried
    again after twice ``rejoin_delay``. The second leave counted as a try, and the device
    was told it is out (333) after one.
    """
    h = Harness(Router(Config(max_rejoin_attempts=2)))
    h.joined(PHONE)
    h.session(PHONE, x(f"<presence to='{ROOM}/alice' type='unavailable' id='u1'/>"))
    h.timer(30.0)  # no answer: the leave is said once more
    r = round_trip(h.router, 31.0, sessions=False)
    *_, ping = r.handle(FromSession(session=PHONE, stanza=join(jid="j5")), now=31.0)
    assert isinstance(ping, Send) and ping.stanza.id == "mmx-2"  # is the account still in?
    lost = x(
        f"<presence type='unavailable' from='{ROOM}/alice' to='{ALICE}'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='none'/>"
        "<status code='110'/></x></presence>"
    )
    [_, rejoin] = r.handle(ToAccount(stanza=lost), now=31.0)
    assert isinstance(rejoin, Send) and rejoin.stanza.id == "mmx-3"
    assert r.handle_timer(91.0) == []
    view = r.occupancy(ALICE, ROOM)
    assert view is not None and view.state is OccupancyState.REJOIN_WAIT
    assert view.attached == (PHONE,)
    assert r.upcoming() == [(101.0, "rejoin", ALICE, ROOM)]


def test_a_version_1_nick_change_in_flight_gets_a_deadline() -> None:
    """Version 1 nick changes had no deadline. Restored, the garden's change to "al"
    waited forever: the phone never heard, no other change could be asked for, and the
    keep-alive, which does not ping between a change and its answer, never pinged the
    room again. It now waits Config.nick_change_timeout from the snapshot's time."""
    old = json.loads(V1.read_text())
    router = Router.restore(old, now=1_800_000_010.0, sessions=True)
    assert [d for d in router.upcoming() if d[3] == OTHER_ROOM] == [
        (1_800_000_066.0, "nick-timeout", ALICE, OTHER_ROOM),
        (1_800_000_901.0, "ping", ALICE, OTHER_ROOM),
    ]
    router.handle_timer(1_800_000_036.0)  # the lounge's rejoin, the attic's leave again
    assert router.handle_timer(1_800_000_066.0) == [
        Deliver(
            session=PHONE,
            stanza=x(
                f"<presence from='{OTHER_ROOM}/al' to='{PHONE}' type='error' id='n1'>"
                "<error type='wait'><remote-server-timeout "
                "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
            ),
        )
    ]


@pytest.mark.parametrize(
    ("change", "state", "label"),
    [
        ({"state": "joining", "self": None}, OccupancyState.JOINING, "join-timeout"),
        ({"rejoin_sent": True}, OccupancyState.REJOIN_SENT, "rejoin-timeout"),
    ],
)
def test_a_version_1_join_in_flight_gets_a_deadline(
    change: dict[str, object], state: OccupancyState, label: str
) -> None:
    """Version 1 joins and rejoins had no deadline once sent: restored, the lounge waited
    for an answer that may never come, its phone with it. It now waits
    Config.join_timeout from the snapshot's time."""
    old = json.loads(V1.read_text())
    old["accounts"][0]["rooms"][0].update(change)
    old["timers"] = [t for t in old["timers"] if t[1] != "rejoin"]  # its wait is over
    router = Router.restore(old, now=1_800_000_010.0, sessions=True)
    view = router.occupancy(ALICE, ROOM)
    assert view is not None and view.state is state
    assert [d for d in router.upcoming() if d[3] == ROOM and d[1] != "autojoin"] == [
        (1_800_000_066.0, label, ALICE, ROOM)
    ]


def _sid_message(body: str, sid: str) -> Stanza:
    return x(
        f"<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' "
        f"id='{body}'><body>{body}</body>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='{sid}'/></message>"
    )


def test_a_version_2_snapshot_s_hashed_keys_are_made_again_from_the_history() -> None:
    """Version 2 hashed each message's key; version 3 keeps a short stanza-id as it is.

    The keys of the messages the history holds are made again. One the history no longer
    holds is still known by its version 2 hash: sent once more, it is a duplicate too.
    """
    h = Harness(Router(Config(max_history_messages=1)))
    h.joined(PHONE)
    first, second = _sid_message("one", "s1"), _sid_message("two", "s2")
    h.room(first)
    h.room(second)
    snapshot = h.router.snapshot()
    old, changed = hashed_as_version_2(snapshot, {"s1", "s2"})
    # Both in the memory and among the messages passed on; s2 in the history too.
    assert changed == 5
    restored = Router.restore(json.loads(json.dumps(old)), now=0.0, sessions=True)
    account = restored._core.table.accounts[ALICE]
    hashed = hashlib.blake2b(b"s\0s1", digest_size=8).hexdigest()
    assert list(account.memory[ROOM].seen) == [hashed, "s2"]
    assert list(account.rooms[ROOM].view.passed or ()) == [hashed, "s2"]
    assert restored.handle(ToAccount(stanza=second), now=0.0) == [
        Discard(stanza=second, reason=DiscardReason.DUPLICATE)
    ]
    assert restored.handle(ToAccount(stanza=first), now=0.0) == [
        Discard(stanza=first, reason=DiscardReason.DUPLICATE)
    ]
    # s1 takes its hash's place: the order the messages came.
    assert list(account.rooms[ROOM].view.passed or ()) == ["s1", "s2"]
    history = account.rooms[ROOM].view.history
    assert history is not None and [key for _, _, key, *_ in history._entries] == ["s2"]
    # The mark that hashes may be left is kept across snapshots, until none can be.
    assert restored.snapshot()["accounts"][0]["memory"][0][1]["legacy"] == 2
    again = round_trip(restored, 0.0, sessions=True)
    assert again.snapshot() == restored.snapshot()
    third = _sid_message("three", "s3")
    assert again.handle(ToAccount(stanza=third), now=0.0) == [
        archived(third),
        Deliver(session=PHONE, stanza=third.with_to(PHONE)),
    ]
    assert again._core.table.accounts[ALICE].memory[ROOM].legacy == 2


def test_a_version_2_memory_of_a_room_left_knows_its_history_when_rejoined() -> None:
    """The account left before the version 2 snapshot: no history, only its memory.

    The room's history for the next join repeats what the account had: each message is
    known by its version 2 hash and taken as a duplicate, not archived and shown again.
    Once the oldest message remembered came after the restore, no hash is looked for.
    """
    config = Config(max_remembered_messages=2)
    h = Harness(Router(config))
    h.joined(PHONE)
    h.room(_sid_message("one", "s1"))
    h.session(PHONE, leave())
    h.room(left())
    old, changed = hashed_as_version_2(h.router.snapshot(), {"s1"})
    assert changed == 1
    r = Harness(Router.restore(old, now=0.0, sessions=True, config=config))
    r.now = 60.0
    r.session(PHONE, join(jid="p2"))
    r.room(self_presence(pid="p2"))
    replayed = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' "
        "id='one'><body>one</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='s1'/>"
        "<delay xmlns='urn:xmpp:delay' from='lounge@muc.example.net' stamp='1970-01-01T00:00:01Z'/>"
        "</message>"
    )
    assert r.room(replayed) == [Discard(stanza=replayed, reason=DiscardReason.DUPLICATE)]
    memory = r.router._core.table.accounts[ALICE].memory[ROOM]
    assert (list(memory.seen), memory.legacy) == (["s1"], 1)
    for n in (2, 3):
        r.room(_sid_message(f"m{n}", f"s{n}"))
    assert (list(memory.seen), memory.legacy) == (["s2", "s3"], 1)
    r.room(_sid_message("m4", "s4"))
    assert (list(memory.seen), memory.legacy) == (["s3", "s4"], 0)


def test_a_version_3_snapshot_keeps_short_stanza_ids_as_keys() -> None:
    """What version 3 writes, and 4 and 5, is the keys as the router holds them: the ids themselves."""
    h = Harness()
    h.joined(PHONE)
    h.room(_sid_message("one", "s1"))
    snapshot = h.router.snapshot()
    assert snapshot["version"] == 5
    assert hashed_as_version_2(snapshot, {"s1"})[1] == 3
    assert Router.restore(snapshot, now=0.0, sessions=True).snapshot() == snapshot


def test_a_version_2_history_is_rekeyed_without_a_memory_or_messages_passed() -> None:
    """An occupancy whose memory went (the bound on rooms) still gets its history's keys."""
    h = Harness()
    h.joined(PHONE)
    h.room(_sid_message("one", "s1"))
    old, _ = hashed_as_version_2(h.router.snapshot(), {"s1"})
    [account] = old["accounts"]
    account["memory"] = []
    del account["rooms"][0]["v"]["k"]
    restored = Router.restore(old, now=0.0, sessions=True)
    occupancy = restored._core.table.accounts[ALICE].rooms[ROOM]
    assert occupancy.view.passed is None
    assert occupancy.view.history is not None
    assert [key for _, _, key, *_ in occupancy.view.history._entries] == ["s1"]


def _back_while_the_rejoin_waits() -> Harness:
    """A bookmarked room after a restart: the phone, asleep during it, is back before the
    room's turn; its join sends the rejoin at once (the turn, then, has nothing to do) and
    waits for it (XEP-0045 §7.2.15)."""
    h = _in_the_lounge_by_bookmark()
    h.closed(PHONE)
    h.room(groupchat("while asleep", mid="m1"))
    r = _restarted(h)
    [rejoin] = r.session(PHONE, join(jid="back"))
    assert isinstance(rejoin, Send) and rejoin.stanza.to == ROOM.with_resource("alice")
    assert r.timer(r.now) == []
    return r


def _answered_then_back_with_what_it_missed(h: Harness, jid: str) -> None:
    """The room answers the account's join (bob, the self-presence, the subject); the phone
    joins again as ``jid`` and gets the room's state and the one message it missed."""
    h.room(occupant("bob"))
    h.room(self_presence())
    h.room(subject())
    missed = groupchat("while asleep", mid="m1", stamp="2027-01-15T08:00:00Z")
    assert h.session(PHONE, join(jid=jid)) == [
        Deliver(session=PHONE, stanza=occupant("bob", to=PHONE)),
        Deliver(session=PHONE, stanza=self_presence(pid=jid).with_to(PHONE)),
        Deliver(session=PHONE, stanza=missed.with_to(PHONE)),
        Deliver(session=PHONE, stanza=subject().with_to(PHONE)),
    ]


def test_a_device_back_while_the_rejoin_waits_keeps_its_place_across_a_second_restart() -> None:
    """Back after a first restart, the phone waits for the rejoin it made go (§7.2.15).

    A second restart comes before the rejoin is answered: the phone got nothing since it
    came back, so back again it gets what it missed, once. (Answered from the table at
    once, it had its place dropped, and got the whole history a second time.)
    """
    r = _back_while_the_rejoin_waits()
    s = Harness(round_trip(r.router, r.now + 60, sessions=False))
    s.now = r.now + 60
    [again] = s.timer(s.now)
    assert isinstance(again, Send)
    _answered_then_back_with_what_it_missed(s, "back again")


def test_a_device_waiting_to_get_back_in_keeps_its_place_across_a_restart() -> None:
    """A device rejoining carries its place; a restart before the room answers keeps it."""
    h = Harness()
    h.joined(PHONE)
    h.room(groupchat("seen before", mid="m0"))
    h.session(PHONE, leave())
    h.room(left())
    [send] = h.session(PHONE, join(jid="again"))
    assert isinstance(send, Send)  # the account joins again; the phone waits, its place with it
    r = Harness(round_trip(h.router, 10.0, sessions=False))
    r.now = 10.0
    assert r.router._core.table.accounts[ALICE].memory[ROOM].positions == {PHONE: (1, 10.0)}
    r.session(PHONE, join(jid="back"))
    r.room(occupant("bob"))
    r.room(self_presence(pid="back"))
    seen = groupchat("seen before", mid="m0", stamp="1970-01-01T00:00:01Z")
    assert r.room(seen) == [Discard(stanza=seen, reason=DiscardReason.DUPLICATE)]
    missed = groupchat("while away", mid="m1")
    assert bodies(r.room(missed)) == ["while away"]


def test_a_waiting_device_s_place_in_a_forgotten_memory_does_not_push_out_another_room() -> None:
    """The phone waits to get back in, but the account's memory of that room was pushed
    out meanwhile (``max_rooms_per_account``): its place counts in numbers nobody keeps.

    A restart made that memory again, empty, and pushed out the memory of a room the
    laptop had left: back there, the laptop got the room's history a second time.
    """
    h = waiting_while_its_memory_goes()
    r = Harness(round_trip(h.router, 10.0, sessions=False))
    r.now = 10.0
    assert list(r.router._core.table.accounts[ALICE].memory) == [OTHER_ROOM, THIRD_ROOM]
    # The phone's join, on its way at the restart, is admitted; nobody wants it: the
    # account leaves the lounge, and the room for another is free again.
    _, leave = r.room(self_presence(pid="again"))
    assert isinstance(leave, Send) and leave.stanza.type == "unavailable"
    r.room(left(str(leave.stanza.id)))
    assert r.router.occupancy(ALICE, ROOM) is None
    r.session(LAPTOP, join(jid="back", room=OTHER_ROOM))
    r.room(occupant("bob", room=OTHER_ROOM))
    r.room(self_presence(room=OTHER_ROOM, pid="back"))
    again = groupchat("garden", mid="g0", room=OTHER_ROOM, stamp="1970-01-01T00:00:01Z")
    assert r.room(again) == [Discard(stanza=again, reason=DiscardReason.DUPLICATE)]


def test_a_waiting_device_keeps_what_it_got_before_the_answer_across_a_restart() -> None:
    """Without an archive a message before the room's answer is forked to the waiting
    phone; a restart then put back the place the phone had when it left, and the room's
    history after the restart brought the phone that message a second time.
    """
    h = Harness(Router(Config(archive=False)))
    h.joined(PHONE)
    h.room(groupchat("seen before", mid="m0"))
    h.session(PHONE, leave())
    h.room(left())
    [send] = h.session(PHONE, join(jid="again"))
    assert isinstance(send, Send)
    assert bodies(h.room(groupchat("early", mid="m1"))) == ["early"]  # forked as it comes
    r = Harness(round_trip(h.router, 10.0, sessions=False))
    r.now = 10.0
    assert r.router._core.table.accounts[ALICE].memory[ROOM].positions == {PHONE: (2, 10.0)}
    assert r.session(PHONE, join(jid="back")) == []  # the join on its way is its too
    r.room(occupant("bob"))
    r.room(self_presence(pid="again"))
    for mid, body in (("m0", "seen before"), ("m1", "early")):
        again = groupchat(body, mid=mid, stamp="1970-01-01T00:00:01Z")
        assert r.room(again) == [Discard(stanza=again, reason=DiscardReason.DUPLICATE)]
    assert bodies(r.room(groupchat("after", mid="m2"))) == ["after"]


def test_a_version_2_hash_among_the_messages_passed_on_outlives_the_memory_s() -> None:
    """Private messages are remembered by the account but not among the messages passed
    on in the room: the memory forgets its version 2 hashes first. The mark went with
    them, and the room sending the first message again had it archived and shown twice.
    """
    config = Config(max_remembered_messages=2, max_history_messages=1)
    h = Harness(Router(config))
    h.joined(PHONE)
    first, second = _sid_message("one", "s1"), _sid_message("two", "s2")
    h.room(first)
    h.room(second)
    old, _ = hashed_as_version_2(h.router.snapshot(), {"s1", "s2"})
    r = Harness(Router.restore(json.loads(json.dumps(old)), now=0.0, sessions=True, config=config))
    for n in (1, 2, 3):
        private = x(
            f"<message type='chat' from='lounge@muc.example.net/bob' to='alice@example.org' "
            f"id='pm{n}'><body>pm{n}</body></message>"
        )
        assert bodies(r.room(private)) == [f"pm{n}"]
    assert r.room(first) == [Discard(stanza=first, reason=DiscardReason.DUPLICATE)]
    assert r.room(second) == [Discard(stanza=second, reason=DiscardReason.DUPLICATE)]
    third = _sid_message("three", "s3")
    assert r.room(third) == [archived(third), Deliver(session=PHONE, stanza=third.with_to(PHONE))]
    # The first message passed on is not remembered any more: it may be held as a hash.
    assert r.router._core.table.accounts[ALICE].memory[ROOM].legacy == 2


def test_a_device_that_leaves_while_the_rejoin_waits_keeps_its_place() -> None:
    """Back after a restart, the phone waits for the rejoin (§7.2.15) and leaves before it
    is answered: it gets its unavailable and keeps its place; back again it gets what it
    missed, once. (Its place was once dropped, and it got the history a second time.)"""
    r = _back_while_the_rejoin_waits()
    [told] = r.session(PHONE, leave())
    assert isinstance(told, Deliver) and told.stanza.type == "unavailable"
    _answered_then_back_with_what_it_missed(r, "again")


def test_a_message_bounced_while_waiting_does_not_count_in_the_place_a_restart_keeps() -> None:
    """The phone came back while the room had yet to answer its leave; a message reached
    it and came back undelivered. A restart kept the place the phone carried, counting
    that message: back, the phone never got it."""
    h = Harness()
    h.joined(PHONE)
    h.room(groupchat("one", mid="m1"))
    h.session(PHONE, leave())
    assert h.session(PHONE, join(jid="again")) == []
    two = groupchat("two", mid="m2")
    assert delivered(h.room(two), PHONE) == [two.with_to(PHONE)]
    h.session(
        PHONE,
        x(
            "<message to='lounge@muc.example.net/bob' type='error' id='m2'>"
            "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        ),
    )
    r = Harness(round_trip(h.router, 10.0, sessions=False))
    r.now = 10.0
    assert r.router._core.table.accounts[ALICE].memory[ROOM].positions == {PHONE: (1, 10.0)}


def test_a_restore_gives_each_waiting_service_the_turn_it_had() -> None:
    """muc.one's joins have waited since 10 (no timer call); muc.two's first is queued at
    10.9. A late call at 10.9 takes muc.one's turns 10 and 10.5 but only muc.two's first;
    a router restored from a snapshot at 10.9 does the same, not two joins to muc.two at
    once as if it too had waited since 10."""
    bob = JID.parse("bob@example.org")

    def marks(prefix: str, service: str) -> tuple[Bookmark, ...]:
        return tuple(
            Bookmark(room=JID.parse(f"{prefix}{n}@{service}"), autojoin=True) for n in range(3)
        )

    def rooms(actions: list[Action]) -> list[str]:
        return [str(a.stanza.to) for a in actions if isinstance(a, Send)]

    router = Router(Config(autojoin_interval=0.5))
    router.handle(
        BookmarksChanged(account=ALICE, bookmarks=marks("a", "muc.one.example")), now=10.0
    )
    router.handle(BookmarksChanged(account=bob, bookmarks=marks("b", "muc.two.example")), now=10.9)
    moved = round_trip(router, 10.9, sessions=True)
    for now, expected in (
        (10.9, ["a0@muc.one.example/alice", "a1@muc.one.example/alice", "b0@muc.two.example/bob"]),
        (11.0, ["a2@muc.one.example/alice"]),
        (11.4, ["b1@muc.two.example/bob"]),
        (11.9, ["b2@muc.two.example/bob"]),
    ):
        assert rooms(router.handle_timer(now)) == expected
        assert rooms(moved.handle_timer(now)) == expected
        assert moved.next_deadline() == router.next_deadline()


def _bounce(mid: str) -> Stanza:
    """A message of a stream given up, handed back to the room (XEP-0198 §5)."""
    return x(
        f"<message to='lounge@muc.example.net/bob' type='error' id='{mid}'>"
        "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></message>"
    )


def _bounced_m2_of_three() -> Harness:
    """The phone and the laptop had m1, m2 and m3; m2 came back from the phone's stream."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    for mid in ("m1", "m2", "m3"):
        h.room(groupchat(mid, mid=mid))
    h.session(PHONE, _bounce("m2"))
    return h


def test_a_place_with_a_gap_survives_a_restart() -> None:
    """XEP-0198 §5, XEP-0045 §7.2.13: m2 came back from the phone's stream, m3 reached it;
    the process restarts. Back, the phone gets m2 alone: the place a restart keeps, and
    the one a snapshot holds, is m1 with m3 after the gap (both written to the snapshot)."""
    h = _bounced_m2_of_three()
    moved = Harness(round_trip(h.router, 5.0, sessions=True))
    assert moved.router._core.table.accounts[ALICE].rooms[ROOM].attached[PHONE].bounced == (2,)
    r = Harness(round_trip(moved.router, 10.0, sessions=False))
    r.now = 10.0
    assert r.router._core.table.accounts[ALICE].memory[ROOM].positions[PHONE] == ((1, 3), 10.0)
    again = Harness(round_trip(r.router, 10.0, sessions=False))
    again.now = 10.0
    positions = again.router._core.table.accounts[ALICE].memory[ROOM].positions
    assert positions[PHONE] == ((1, 3), 10.0)
    assert bodies(again.session(PHONE, join(jid="back"))) == ["m2"]


def test_a_version_3_bounce_restores_as_everything_from_it_on_missed() -> None:
    """Version 3 kept the oldest message that came back, the device having missed it and
    everything after: restored, the phone back gets m2 and m3, none lost."""
    h = _bounced_m2_of_three()
    snapshot = names_inline(json.loads(json.dumps(h.router.snapshot())), 3)
    [room] = snapshot["accounts"][0]["rooms"]
    for item in room["a"]:
        if item[0] == "/phone":
            assert item[6][2] == [2]
            item[6][2] = 2  # as version 3 wrote it
    r = Harness(Router.restore(snapshot, now=10.0, sessions=False))
    r.now = 10.0
    assert r.router._core.table.accounts[ALICE].memory[ROOM].positions[PHONE] == (1, 10.0)
    assert bodies(r.session(PHONE, join(jid="back"))) == ["m2", "m3"]


def test_a_place_with_a_gap_that_names_no_later_message_is_refused() -> None:
    """A place written as a list names the messages after its gap: one without is damage."""
    h = _bounced_m2_of_three()
    h.closed(PHONE)
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    [memory] = snapshot["accounts"][0]["memory"]
    assert [p[1] for p in memory[1]["positions"]] == [[1, 3]]
    memory[1]["positions"][0][1] = [1]
    with pytest.raises(SnapshotError, match="a place with a gap names no message after it"):
        Router.restore(snapshot, now=10.0)


def test_a_version_3_bounce_past_the_history_restores_as_nothing_more_missed() -> None:
    """A version 3 bounce of a message the history no longer holds (or of none) is of a
    message no device can get again: the phone is back with the rest as it was."""
    h = _bounced_m2_of_three()
    snapshot = names_inline(json.loads(json.dumps(h.router.snapshot())), 3)
    [room] = snapshot["accounts"][0]["rooms"]
    room["v"]["h"] = room["v"]["h"][:1]  # the history holds m1 alone
    for item in room["a"]:
        if item[0] == "/phone":
            item[6][2] = 2
    r = Router.restore(snapshot, now=10.0, sessions=True)
    assert r._core.table.accounts[ALICE].rooms[ROOM].attached[PHONE].bounced == (2,)


def test_a_place_past_any_number_is_refused_as_a_malformed_snapshot() -> None:
    """Python's json reads ``Infinity``: a place (plain or after a gap) that is no integer
    at all is damage, refused as every malformed snapshot is, with SnapshotError."""
    h = _bounced_m2_of_three()
    h.closed(PHONE)
    text = json.dumps(h.router.snapshot())
    for place in ("Infinity", "[1, Infinity]", "-Infinity"):
        snapshot = json.loads(text)
        [memory] = snapshot["accounts"][0]["memory"]
        memory[1]["positions"][0][1] = json.loads(place)
        with pytest.raises(SnapshotError, match=r"not a whole number: -?inf"):
            Router.restore(snapshot, now=10.0)


def _said(n: int) -> Stanza:
    """Bob's message ``n`` with the room's stanza-id ``s{n}`` (its message key)."""
    return x(
        f"<message type='groupchat' from='{ROOM}/bob' to='{ALICE}' id='m{n}'><body>{n}</body>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='s{n}'/></message>"
    )


def test_a_restore_under_a_smaller_memory_bound_forgets_down_to_it() -> None:
    """``Config.max_remembered_messages`` bounds what a restored router remembers too.

    A snapshot taken under a larger bound holds more keys than the new one allows; the
    restore keeps the newest of them, as the bound would have, instead of forgetting one
    per message and staying over the bound for good.
    """
    h = Harness(Router(Config(max_remembered_messages=10)))
    h.joined(PHONE)
    for n in range(8):
        h.room(_said(n))
    h.router = Router.restore(
        json.loads(json.dumps(h.router.snapshot())),
        now=0.0,
        config=Config(max_remembered_messages=2),
        sessions=True,
    )
    account = h.router._core.table.accounts[ALICE]
    assert list(account.memory[ROOM].seen.items()) == [("s6", 7), ("s7", 8)]
    assert list(account.rooms[ROOM].view.passed or ()) == ["s6", "s7"]
    assert h.room(_said(8)) == [
        Archive(account=ALICE, stanza=_said(8)),
        Deliver(session=PHONE, stanza=_said(8).with_to(PHONE)),
    ]
    assert list(account.memory[ROOM].seen.items()) == [("s7", 8), ("s8", 9)]
    assert list(account.rooms[ROOM].view.passed or ()) == ["s7", "s8"]
    assert h.router.snapshot()["accounts"][0]["memory"][0][1]["seen"] == [("s7", 8), ("s8", 9)]


def test_a_restore_under_a_smaller_history_bound_keeps_the_newest_messages_only() -> None:
    """``max_history_messages`` and ``max_history_bytes`` bound a restored history at once:
    a device joining before the next room message gets no more than the bound allows."""
    h = Harness(Router(Config(max_history_messages=10)))
    h.joined(PHONE)
    for n in range(8):
        h.room(_said(n))
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    for config, kept in ((Config(max_history_messages=3), 3), (Config(max_history_bytes=700), 2)):
        h.router = Router.restore(snapshot, now=0.0, config=config, sessions=True)
        history = h.router._core.table.accounts[ALICE].rooms[ROOM].view.history
        assert history is not None
        assert [key for _, _, key, *_ in history._entries] == [f"s{n}" for n in range(8)][-kept:]
        assert bodies(h.session(LAPTOP, join(jid="late"))) == [str(n) for n in range(8)][-kept:]


def test_tags_and_attribute_names_are_written_once_and_version_4_still_restores() -> None:
    """Version 5 writes each tag and attribute name once, in ``names``; the payloads name
    them by index. A snapshot as version 4 wrote it (each name where it stands) restores
    to the same router."""
    h = Harness()
    h.joined(PHONE, others=("bob", "carol"))
    h.room(_said(1))
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    names = snapshot["names"]
    assert len(names) == len(set(names))
    assert "{http://jabber.org/protocol/muc#user}item" in names and "affiliation" in names
    assert "{http://jabber.org/protocol/muc#user}item" not in json.dumps(snapshot["payloads"])
    old = names_inline(snapshot)
    assert "names" not in old and old["version"] == 4
    restored = Router.restore(old, now=0.0, sessions=True)
    assert json.loads(json.dumps(restored.snapshot())) == snapshot


@pytest.mark.parametrize(
    ("name", "why"),
    [(-1, "not a name: -1"), (True, "not a name: True"), (99, "list index out of range")],
)
def test_a_name_that_is_no_index_into_the_names_is_refused(name: object, why: str) -> None:
    h = Harness()
    h.joined(PHONE)
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    snapshot["payloads"][0][0][0][0] = name
    with pytest.raises(SnapshotError, match=why):
        Router.restore(snapshot, now=0.0)
    snapshot["names"] = [1]
    with pytest.raises(SnapshotError, match="not a name: 1"):
        Router.restore(snapshot, now=0.0)


def _names_damaged(how: str) -> dict[str, Any]:
    h = Harness()
    h.joined(PHONE, others=("bob",))
    snapshot: dict[str, Any] = json.loads(json.dumps(h.router.snapshot()))
    names = snapshot["names"]
    if how == "a string":  # one character a name: as many as the table had
        snapshot["names"] = "".join(chr(ord("a") + n) for n in range(len(names)))
    elif how == "a mapping":
        snapshot["names"] = dict.fromkeys(names, 0)
    elif how == "version 4":
        snapshot["version"] = 4
    elif how == "an index in version 4":  # the indexes stay, the table goes
        snapshot = {**names_inline(snapshot), "payloads": snapshot["payloads"]}
    else:  # a name where an index into the table stands
        snapshot["payloads"][0][0][0][0] = names[snapshot["payloads"][0][0][0][0]]
    return snapshot


@pytest.mark.parametrize(
    ("how", "why"),
    [
        ("a string", "not a table of names"),
        ("a mapping", "not a table of names"),
        ("version 4", "a table of names in a version 4 snapshot"),
        ("a name in version 5", "not a name: '{http://jabber.org/protocol/muc}x'"),
        ("an index in version 4", "not a name: 0"),
    ],
)
def test_a_table_of_names_that_is_no_list_or_not_the_version_s_is_refused(
    how: str, why: str
) -> None:
    """Version 5 names its tags and attribute names by index into a list, ``names``;
    before, each stands where it is. A table that is no list (a string gives one name a
    character) or a version 4 snapshot with one, or a name in place of a version 5 index,
    is damage."""
    with pytest.raises(SnapshotError, match=re.escape(why)):
        Router.restore(_names_damaged(how), now=0.0)
    snapshot = _names_damaged("a name in version 5")
    del snapshot["names"]
    with pytest.raises(SnapshotError, match="a version 5 snapshot without its table of names"):
        Router.restore(snapshot, now=0.0)


@pytest.mark.parametrize("index", [-1, True, False, 1.0, 0.5, None])
def test_a_payload_index_that_is_no_whole_number_from_zero_is_refused(index: object) -> None:
    """A stanza's payload and a session's are indexes into ``payloads``: a negative one
    (counted from the end), a bool or a float named another payload than the one written."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    room = snapshot["accounts"][0]["rooms"][0]
    bob = room["v"]["o"][0][0]
    bob[0] = index
    with pytest.raises(SnapshotError, match=re.escape(f"not a payload index: {index!r}")):
        Router.restore(snapshot, now=0.0)
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    attachment = snapshot["accounts"][0]["rooms"][0]["a"][0]
    assert type(attachment[4]) is int  # the session's presence payload
    attachment[4] = -1
    with pytest.raises(SnapshotError, match="not a payload index: -1"):
        Router.restore(snapshot, now=0.0)


def test_a_payload_or_stanza_written_out_as_version_1_wrote_it_is_refused_after_it() -> None:
    """Only version 1 writes payloads and stanzas where they are used; from version 2 on
    they are places in ``payloads`` (an empty payload aside): one written out is damage,
    as is a snapshot with no ``payloads`` at all."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    written = json.loads(json.dumps(h.router.snapshot()))
    snapshot = json.loads(json.dumps(written))
    snapshot["accounts"][0]["rooms"][0]["sp"] = []  # the default written out: nothing sent
    assert Router.restore(snapshot, now=0.0, sessions=True).snapshot() == written

    snapshot = json.loads(json.dumps(written))
    attachment = snapshot["accounts"][0]["rooms"][0]["a"][0]
    attachment[4] = [[0, [], [], "away"]]
    with pytest.raises(SnapshotError, match="a payload where its place in the payloads belongs"):
        Router.restore(snapshot, now=0.0)

    snapshot = json.loads(json.dumps(written))
    snapshot["accounts"][0]["rooms"][0]["v"]["o"][0][0] = [
        "presence",
        None,
        "lounge@muc.example.net/bob",
        None,
        None,
        [],
        [],
    ]
    with pytest.raises(SnapshotError, match="a stanza written out as version 1 wrote it"):
        Router.restore(snapshot, now=0.0)

    snapshot = json.loads(json.dumps(written))
    del snapshot["payloads"]
    with pytest.raises(SnapshotError, match="a version 5 snapshot without its payloads"):
        Router.restore(snapshot, now=0.0)


def test_elements_nested_deeper_than_the_reader_goes_are_refused() -> None:
    """An element nested thousands deep runs the reader out of stack: that is a
    ``SnapshotError`` as any other damage, not a ``RecursionError``."""
    h = Harness()
    h.joined(PHONE)
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    element: list[object] = [0]
    for _ in range(5000):
        element = [0, [], [element]]
    snapshot["payloads"][0] = [[element]]
    with pytest.raises(SnapshotError, match="RecursionError"):
        Router.restore(snapshot, now=0.0)


@pytest.mark.parametrize("where", ["attribute value", "text", "type", "id", "from"])
@pytest.mark.parametrize("value", [5, True, ["a"], None])
def test_a_value_that_is_no_string_where_the_snapshot_wrote_one_is_refused(
    where: str, value: object
) -> None:
    """Attribute values, texts, a stanza's type, id and JIDs are strings (the optional
    ones or null): a number restored as its digits, null as the text ``None``, and an id
    of another type stayed one."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    bob = snapshot["accounts"][0]["rooms"][0]["v"]["o"][0][0]  # payload, kind, type, from
    item = snapshot["payloads"][bob[0]][0][0][2][0]  # bob's muc#user item
    if where == "attribute value":
        item[1][0][1] = value
    elif where == "text":
        item[2:] = [[], value]
    else:
        bob += [None] * (6 - len(bob))
        bob[{"type": 2, "id": 5, "from": 3}[where]] = value
    if value is None and where == "from":
        with pytest.raises(SnapshotError, match="an occupant without a nick"):
            Router.restore(snapshot, now=0.0)
        return
    if value is None and where != "attribute value":  # an optional one, left out
        Router.restore(snapshot, now=0.0)
        return
    with pytest.raises(SnapshotError, match=re.escape(f"not a string: {value!r}")):
        Router.restore(snapshot, now=0.0)


@pytest.mark.parametrize(
    ("where", "damage", "why"),
    [
        ("children", "ab", "not children: 'ab'"),
        ("element", "xy", "not an element: 'xy'"),
        ("attributes", {"ab": "c"}, "not attributes: {'ab': 'c'}"),
        ("attribute", "ab", "not an attribute: 'ab'"),
        ("attribute", ["a"], "not an attribute: ['a']"),
        ("element", ["x", [], [], None, None, "more"], "not an element"),
        ("payload", "more", "not a payload"),
    ],
)
def test_a_string_or_mapping_where_a_snapshot_writes_a_list_is_refused(
    where: str, damage: object, why: str
) -> None:
    """Versions 1 to 4 write names where they stand, so a string or a mapping in place of
    the list of an element's children, of an element or of its attributes was taken apart
    (``"ab"`` as children restored two elements, ``a`` and ``b``): it is damage, as are
    lists longer than what the snapshot writes."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    snapshot = names_inline(json.loads(json.dumps(h.router.snapshot())))
    bob = snapshot["accounts"][0]["rooms"][0]["v"]["o"][0][0]
    payload = snapshot["payloads"][bob[0]]
    x_element = payload[0][0]  # the muc#user x: [tag, attrs, [item]]
    if where == "children":
        x_element[2] = damage
    elif where == "element":
        x_element[2][0] = damage
    elif where == "attributes":
        x_element[2][0][1] = damage
    elif where == "attribute":
        x_element[2][0][1][0] = damage
    else:
        payload.append([])
        payload.append(damage)
    with pytest.raises(SnapshotError, match=re.escape(why)):
        Router.restore(snapshot, now=0.0)


def test_a_restore_under_a_smaller_room_bound_forgets_the_least_recent_rooms_memories() -> None:
    """``Config.max_rooms_per_account`` bounds a restored account's memory of rooms too.

    A snapshot taken under a larger bound remembers more rooms than the new one allows;
    the restore keeps the most recently used, as the bound would have, instead of
    forgetting one per newly remembered room and staying over the bound for good.
    """
    fourth = JID.parse("fourth@muc.example.net")
    h = Harness(Router(Config(max_rooms_per_account=3, disconnect_grace=0)))
    for room in (ROOM, OTHER_ROOM):
        h.joined(PHONE, room=room)
        h.room(groupchat("hi", room=room))
        h.session(PHONE, leave(room=room))
        h.room(left(room=room))
    h.joined(PHONE, room=THIRD_ROOM)
    h.room(groupchat("hi", room=THIRD_ROOM))
    assert list(h.router._core.table.accounts[ALICE].memory) == [ROOM, OTHER_ROOM, THIRD_ROOM]
    h.router = Router.restore(
        json.loads(json.dumps(h.router.snapshot())),
        now=h.now,
        config=Config(max_rooms_per_account=2, disconnect_grace=0),
        sessions=True,
    )
    account = h.router._core.table.accounts[ALICE]
    assert list(account.memory) == [OTHER_ROOM, THIRD_ROOM]
    h.joined(PHONE, room=fourth)
    h.room(groupchat("hi", room=fourth))
    assert list(account.memory) == [THIRD_ROOM, fourth]
    assert [room for room, _ in h.router.snapshot()["accounts"][0]["memory"]] == [
        str(THIRD_ROOM),
        str(fourth),
    ]


def test_a_key_adopted_from_a_version_2_hash_keeps_its_age() -> None:
    """A message remembered under its version 2 hash, adopted under its key when the room
    sends it again, is as old as it was: the next new message makes it go, not a message
    that came after it, and that one is still known when the room sends it again."""
    config = Config(max_remembered_messages=2, max_history_messages=1)
    h = Harness(Router(config))
    h.joined(PHONE)
    h.room(_said(1))
    h.session(PHONE, leave())
    h.room(left())
    h.joined(PHONE)
    h.room(_said(2))
    old, _ = hashed_as_version_2(json.loads(json.dumps(h.router.snapshot())), {"s1", "s2"})
    h.router = Router.restore(old, now=h.now, config=config, sessions=True)
    memory = h.router._core.table.accounts[ALICE].memory[ROOM]
    s1_hash = next(iter(memory.seen))
    assert list(memory.seen.items()) == [(s1_hash, 1), ("s2", 2)]  # s2 is in the history
    assert h.room(_said(1)) == [Discard(stanza=_said(1), reason=DiscardReason.DUPLICATE)]
    assert list(memory.seen.items()) == [("s1", 1), ("s2", 2)]
    assert h.room(_said(3))[0] == Archive(account=ALICE, stanza=_said(3))
    assert list(memory.seen.items()) == [("s2", 2), ("s3", 3)]
    assert h.room(_said(2)) == [Discard(stanza=_said(2), reason=DiscardReason.DUPLICATE)]


def test_a_restore_under_a_smaller_room_bound_keeps_the_memories_of_rooms_the_account_is_in() -> (
    None
):
    """The account stays in its rooms after a restore under a smaller
    ``max_rooms_per_account``; their memories stay too (none is forgotten for another's
    sake at each message), and joining more waits until it is within the bound."""
    h = Harness(Router(Config(max_rooms_per_account=3)))
    for room in (ROOM, OTHER_ROOM, THIRD_ROOM):
        h.joined(PHONE, room=room)
        h.room(groupchat("hi", room=room))
    h.router = Router.restore(
        json.loads(json.dumps(h.router.snapshot())),
        now=h.now,
        config=Config(max_rooms_per_account=2),
        sessions=True,
    )
    account = h.router._core.table.accounts[ALICE]
    assert list(account.memory) == [ROOM, OTHER_ROOM, THIRD_ROOM]
    for room in (ROOM, OTHER_ROOM, THIRD_ROOM):
        h.room(groupchat("again", room=room))
    assert list(account.memory) == [ROOM, OTHER_ROOM, THIRD_ROOM]
    assert [len(memory.seen) for memory in account.memory.values()] == [2, 2, 2]


def test_a_restore_under_a_smaller_tracked_ids_bound_forgets_down_to_it() -> None:
    """``Config.max_tracked_ids`` bounds a restored occupancy's ids too: the newest are
    kept, and a room's error for a forgotten one goes to every attached session."""
    h = Harness(Router(Config(max_tracked_ids=5)))
    h.joined(PHONE, LAPTOP)
    for n in range(5):
        h.session(
            PHONE, x(f"<message type='groupchat' to='{ROOM}' id='a{n}'><body>{n}</body></message>")
        )
    h.router = Router.restore(
        json.loads(json.dumps(h.router.snapshot())),
        now=h.now,
        config=Config(max_tracked_ids=2),
        sessions=True,
    )
    occupancy = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert occupancy.sent_ids == {"a3": PHONE, "a4": PHONE}
    h.session(PHONE, x(f"<message type='groupchat' to='{ROOM}' id='a5'><body>5</body></message>"))
    assert occupancy.sent_ids == {"a4": PHONE, "a5": PHONE}
    error = x(
        f"<message type='error' from='{ROOM}' to='{ALICE}' id='a2'>"
        "<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
        "</message>"
    )
    assert [(a.session, a.stanza) for a in h.room(error) if isinstance(a, Deliver)] == [
        (PHONE, error.with_to(PHONE)),
        (LAPTOP, error.with_to(LAPTOP)),
    ]


def test_a_restore_under_a_smaller_occupant_bound_keeps_what_the_bound_would_have() -> None:
    """``max_occupants_per_room`` and ``max_occupant_bytes`` bound a restored occupant list
    too: the first occupants stay, as the bound would have cached them, the list is marked
    partial, and a device joining late gets those only."""
    h = Harness()
    h.joined(PHONE, others=("bob", "carol", "dave"))
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    one = payload_size(occupant("bob").children)
    for config in (Config(max_occupants_per_room=2), Config(max_occupant_bytes=2 * one)):
        h.router = Router.restore(snapshot, now=h.now, config=config, sessions=True)
        view = h.router._core.table.accounts[ALICE].rooms[ROOM].view
        assert (list(view.occupants), view.occupant_bytes, view.partial) == (
            ["bob", "carol"],
            2 * one,
            True,
        )
        late = h.session(LAPTOP, join(jid="late"))
        assert [a.stanza.from_ for a in late if isinstance(a, Deliver)][:2] == [
            ROOM.with_resource("bob"),
            ROOM.with_resource("carol"),
        ]
        assert ROOM.with_resource("dave") not in [a.stanza.from_ for a in late]


def test_a_restore_under_a_smaller_occupant_byte_bound_keeps_a_later_smaller_occupant() -> None:
    """An occupant too large for the bytes left is not cached, and a later one that fits
    still is: a list restored under a smaller ``max_occupant_bytes`` keeps what a router
    with that bound would have, not only the occupants before the first that does not fit."""
    big = occupant("carol")
    big = big._replace(children=(*big.children, Element("{urn:example}big", text="x" * 200)))
    one = payload_size(occupant("bob").children)
    config = Config(max_occupant_bytes=2 * one + 10)
    h = Harness()
    h.joined(PHONE, others=("bob",))
    h.room(big)
    h.room(occupant("dave"))
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    h.router = Router.restore(snapshot, now=h.now, config=config, sessions=True)
    view = h.router._core.table.accounts[ALICE].rooms[ROOM].view
    assert (list(view.occupants), view.occupant_bytes, view.partial) == (
        ["bob", "dave"],
        2 * one,
        True,
    )
    late = h.session(LAPTOP, join(jid="late"))
    assert [a.stanza.from_ for a in late if isinstance(a, Deliver)][:2] == [
        ROOM.with_resource("bob"),
        ROOM.with_resource("dave"),
    ]


_NAMES = (
    "x",
    "lang",
    "{http://www.w3.org/XML/1998/namespace}lang",
    "{urn:example}x",
    "{urn:example}lang",
    "{jabber:client}body",
    "id",
    "",
)
_TEXT = st.one_of(st.none(), st.just(""), st.text(max_size=4))
_ATTRS = st.lists(
    st.tuples(st.sampled_from(_NAMES), st.text(max_size=3)), max_size=3, unique_by=lambda a: a[0]
).map(tuple)
_ELEMENTS = st.recursive(
    st.builds(Element, st.sampled_from(_NAMES), _ATTRS, st.just(()), _TEXT, _TEXT),
    lambda children: st.builds(
        Element,
        st.sampled_from(_NAMES),
        _ATTRS,
        st.lists(children, max_size=4).map(tuple),
        _TEXT,
        _TEXT,
    ),
    max_leaves=10,
)
_PRESENCES = st.lists(
    st.tuples(
        st.lists(_ELEMENTS, max_size=3).map(tuple),
        _ATTRS.map(lambda attrs: tuple(a for a in attrs if a[0] != "id")),
    ),
    min_size=1,
    max_size=4,
)


@given(_PRESENCES, st.integers(1, 4), st.integers(1, 400))
def test_occupants_with_any_payload_round_trip_and_fit_smaller_bounds(
    presences: list[tuple[tuple[Element, ...], tuple[tuple[str, str], ...]]],
    most: int,
    size: int,
) -> None:
    """Occupants whose presences carry any elements (a name as tag and as attribute,
    namespaced and xml:lang attributes, empty tags, texts and tails) come back exact, as
    version 5 and as version 4 wrote them; restored under smaller occupant bounds, the list
    is the one a router with those bounds would have cached."""
    stanzas = [
        Stanza(
            "presence",
            from_=ROOM.with_resource(f"n{n}"),
            to=ALICE,
            attrs=attrs,
            children=children,
        )
        for n, (children, attrs) in enumerate(presences)
    ]
    config = Config(max_occupants_per_room=most, max_occupant_bytes=size)
    h, live = Harness(), Harness(Router(config))
    for harness in (h, live):
        harness.joined(PHONE, others=())
        for stanza in stanzas:
            harness.room(stanza)
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    for written in (snapshot, names_inline(snapshot)):
        restored = Router.restore(written, now=h.now, sessions=True)
        assert json.loads(json.dumps(restored.snapshot())) == snapshot
        view = restored._core.table.accounts[ALICE].rooms[ROOM].view
        assert view.occupants == h.router._core.table.accounts[ALICE].rooms[ROOM].view.occupants
    fitted = Router.restore(snapshot, now=h.now, config=config, sessions=True)
    view = fitted._core.table.accounts[ALICE].rooms[ROOM].view
    bounded = live.router._core.table.accounts[ALICE].rooms[ROOM].view
    assert (view.occupants, view.occupant_bytes, view.partial) == (
        bounded.occupants,
        bounded.occupant_bytes,
        bounded.partial,
    )
    assert view.occupant_bytes == sum(payload_size(p.children) for p in view.occupants.values())


def _room(s: dict[str, Any]) -> dict[str, Any]:
    room: dict[str, Any] = s["accounts"][0]["rooms"][0]
    return room


def _set(
    where: Callable[[dict[str, Any]], Any], at: object
) -> Callable[[dict[str, Any], object], None]:
    """A damage maker: ``where`` finds the container, ``at`` the key or index in it."""

    def damage(snapshot: dict[str, Any], value: object) -> None:
        where(snapshot)[at] = value

    return damage


_MEMORY = _set(lambda s: s["accounts"][0]["memory"][0][1], "last")
_SEEN = _set(lambda s: s["accounts"][0]["memory"][0][1]["seen"][1], 1)
_SEEN_KEY = _set(lambda s: s["accounts"][0]["memory"][0][1]["seen"][1], 0)


def _entry(s: dict[str, Any]) -> list[Any]:
    """m2 in the history."""
    entry: list[Any] = _room(s)["v"]["h"][1]
    return entry


@pytest.mark.parametrize(
    ("damage", "value", "why"),
    [
        (_set(lambda s: s, "version"), 5.0, "snapshot version 5.0 is not one of 1 to 5"),
        (_set(lambda s: s, "version"), True, "snapshot version True is not one of 1 to 5"),
        (_set(lambda s: s, "now"), math.nan, "not a time in seconds: nan"),
        (_set(lambda s: s, "now"), -1.0, "not a time in seconds: -1.0"),
        (_set(lambda s: s, "now"), 1e300, "a snapshot taken after the year 9999: 1e+300"),
        (_set(lambda s: s, "counter"), True, "not a whole number: True"),
        (_set(lambda s: s, "sequence"), 2.5, "not a whole number: 2.5"),
        (_set(lambda s: s["timers"][0], 0), math.inf, "not a time in seconds: inf"),
        (_set(lambda s: s["timers"][0], 4), "yes", "not true or false: 'yes'"),
        (_MEMORY, -1, "not a whole number: -1"),
        (_SEEN, "2", "not a whole number: '2'"),
        (_SEEN_KEY, 2, "not a message key: 2"),
        (_set(_entry, 1), "0", "not a time in seconds: '0'"),
        (_set(_entry, 2), None, "not a message key: None"),
        (_set(_entry, 3), -209, "not a whole number: -209"),
        (_set(_entry, 4), 2.0, "not a whole number: 2.0"),
        (_set(_entry, 5), "false", "not true or false: 'false'"),
        (_set(lambda s: _room(s)["v"]["k"], 0), 1, "not a message key: 1"),
        (_set(lambda s: _room(s)["v"], "lm"), math.nan, "not a time in seconds: nan"),
        (_set(lambda s: _room(s)["v"], "pt"), 1, "not true or false: 1"),
        (_set(lambda s: _room(s)["v"], "f"), [True], "not a whole number: True"),
        (_set(lambda s: _room(s)["a"][0], 2), 7, "not a string: 7"),  # the nick
        (_set(lambda s: _room(s)["a"][0], 1), 1, "not a string: 1"),  # the join's id
        (_set(lambda s: _room(s)["a"][0][6], 3), "false", "not true or false: 'false'"),
        (_set(lambda s: _room(s)["a"][0][6], 1), -1, "not a whole number: -1"),
        (_set(_room, "ls"), "0", "not a time in seconds: '0'"),
        (_set(_room, "pi"), 3, "not a string: 3"),
        (_set(_room, "pf"), 1.5, "not a whole number: 1.5"),
        (_set(_room, "rd"), 0, "not true or false: 0"),
        (_set(_room, "wh"), [[2, "true"]], "not true or false: 'true'"),
        (_set(_room, "rs"), [1], "not a string: 1"),
    ],
)
def test_a_number_time_flag_or_id_of_the_wrong_type_is_refused(
    damage: Callable[[dict[str, Any], object], None], value: object, why: str
) -> None:
    """Where a snapshot writes a whole number, a time, true or false, a message key or an
    id, anything else is damage. Python's conversions took ``true`` for 1, ``2.5`` for 2,
    ``"false"`` as true and a NaN as a time, which compares false with every other: a
    restore refuses each with :class:`SnapshotError`."""
    h = _bounced_m2_of_three()
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    Router.restore(json.loads(json.dumps(snapshot)), now=10.0)  # restores undamaged
    damage(snapshot, value)
    with pytest.raises(SnapshotError, match=re.escape(why)):
        Router.restore(snapshot, now=10.0)


def _busy_snapshot() -> dict[str, Any]:
    h = Harness()
    busy(h)
    snapshot: dict[str, Any] = json.loads(json.dumps(h.router.snapshot()))
    Router.restore(json.loads(json.dumps(snapshot)), now=10.0, sessions=True)  # undamaged
    return snapshot


def _named_occupant(snapshot: dict[str, Any], nick: object) -> None:
    """bob's occupant entry written with a nick before his presence."""
    _room(snapshot)["v"]["o"][0].insert(0, nick)


@pytest.mark.parametrize(
    ("damage", "value", "why"),
    [
        (_set(lambda s: _room(s)["v"], "n"), 7, "not a string: 7"),
        (_set(lambda s: _room(s)["v"], "n"), True, "not a string: True"),
        (_set(lambda s: _room(s)["v"], "n"), ["alice"], "not a string: ['alice']"),
        (_named_occupant, 7, "not a string: 7"),
        (_named_occupant, None, "not a string: None"),
        (_named_occupant, 2.5, "not a string: 2.5"),
    ],
)
def test_a_nick_of_the_wrong_type_is_refused(
    damage: Callable[[dict[str, Any], object], None], value: object, why: str
) -> None:
    """The account's nick in a room and an occupant's nick written before its presence
    are strings: ``str()`` made an occupant ``"None"`` or ``"7"``, and a view's nick was
    kept as whatever it was."""
    snapshot = _busy_snapshot()
    damage(snapshot, value)
    with pytest.raises(SnapshotError, match=re.escape(why)):
        Router.restore(snapshot, now=10.0, sessions=True)


def _account_of(snapshot: dict[str, Any]) -> dict[str, Any]:
    account: dict[str, Any] = snapshot["accounts"][0]
    return account


@pytest.mark.parametrize(
    ("damage", "value", "why"),
    [
        # The account's and the room's places in a timer: true is no place, nor is -1 the last.
        (_set(lambda s: s["timers"][2], 2), True, "not a whole number: True"),
        (_set(lambda s: s["timers"][2], 2), -1, "not a whole number: -1"),
        (_set(lambda s: s["timers"][0], 3), True, "not a whole number: True"),
        (_set(lambda s: s["timers"][1], 3), -1, "not a whole number: -1"),
        (_set(lambda s: s["timers"][3], 3), 0.0, "not a whole number: 0.0"),
        # A session's rooms, by their place in the account's rooms.
        (_set(lambda s: _account_of(s)["sessions"][1][1], 0), True, "not a whole number: True"),
        (_set(lambda s: _account_of(s)["sessions"][1][1], 0), -1, "not a whole number: -1"),
        (_set(lambda s: _account_of(s)["sessions"][1][1], 0), 1.0, "not a whole number: 1.0"),
    ],
)
def test_a_place_in_the_accounts_or_rooms_of_the_wrong_type_is_refused(
    damage: Callable[[dict[str, Any], object], None], value: object, why: str
) -> None:
    """A timer names its account and its room, and a session its rooms, by their place in
    the snapshot's lists: Python took ``true`` as place 1 and -1 as the last one."""
    snapshot = _busy_snapshot()
    damage(snapshot, value)
    with pytest.raises(SnapshotError, match=re.escape(why)):
        Router.restore(snapshot, now=10.0, sessions=True)


@pytest.mark.parametrize("value", [math.nan, -1.0, "1", True, [1.0]])
def test_a_join_queue_turn_that_is_no_time_is_refused(value: object) -> None:
    """``join_queue_at`` (version 1's ``autojoin_at``) is the queue's next turn, a time or
    null: it was taken as it was, a turn of true or -1 as a time."""
    snapshot = _busy_snapshot()
    snapshot["join_queue_at"] = value
    with pytest.raises(SnapshotError, match=re.escape(f"not a time in seconds: {value!r}")):
        Router.restore(snapshot, now=10.0, sessions=True)
    old = json.loads(V1.read_text())
    Router.restore(json.loads(json.dumps(old)), now=1_800_000_010.0)  # restores undamaged
    old["autojoin_at"] = value
    with pytest.raises(SnapshotError, match=re.escape(f"not a time in seconds: {value!r}")):
        Router.restore(old, now=1_800_000_010.0)


@pytest.mark.parametrize("field", ["rejoin_sent", "leave_due"])
@pytest.mark.parametrize("value", ["false", 0, 1, None])
def test_a_version_1_flag_that_is_no_true_or_false_is_refused(field: str, value: object) -> None:
    """Version 1's ``rejoin_sent`` and ``leave_due`` were read by their truth: ``"false"``
    sent a rejoin, and 1 made a restored room's leave due."""
    old = json.loads(V1.read_text())
    old["accounts"][0]["rooms"][0][field] = value
    with pytest.raises(SnapshotError, match=re.escape(f"not true or false: {value!r}")):
        Router.restore(old, now=1_800_000_010.0)


def _ids(snapshot: dict[str, Any], value: object) -> None:
    _room(snapshot)["ids"] = [value]


def _queued(snapshot: dict[str, Any], value: object) -> None:
    snapshot["join_queue"] = [value]


@pytest.mark.parametrize(
    ("damage", "value"),
    [
        (_set(lambda s: _room(s)["v"], "k"), "8bf0d79eea69abb1"),  # one key per character
        (_set(lambda s: _room(s)["v"], "h"), ""),  # an empty history, not none
        (_set(lambda s: _room(s)["v"], "o"), {}),
        (_set(lambda s: _room(s)["v"], "f"), ""),
        (_set(_room, "rs"), "ab"),  # nicks "a" and "b"
        (_set(_room, "a"), {}),
        (_set(_room, "wh"), {}),
        (_ids, "ab"),  # the id "a", sent by the session "b"
        (_set(lambda s: _account_of(s)["sessions"][1], 1), "ab"),  # in the rooms "a" and "b"
        (_set(_account_of, "memory"), None),
        (_set(_account_of, "memory"), 0),
        (_set(lambda s: _account_of(s)["memory"][0][1], "seen"), {}),
        (_set(lambda s: _account_of(s)["memory"][0][1], "positions"), ""),
        (_set(_account_of, "bookmarks"), {}),
        (_set(_account_of, "blocked"), ""),
        (_set(_account_of, "rooms"), {}),
        (_set(_account_of, "sessions"), {}),
        (_set(_account_of, "pending_iqs"), ""),
        (_set(lambda s: s, "accounts"), {}),
        (_set(lambda s: s, "timers"), ""),
        (_set(lambda s: s, "join_pace"), {}),
        (_set(lambda s: s, "join_turns"), ""),
        (_set(lambda s: s, "join_queue"), {}),
        (_queued, "ab"),  # the account "a" queued for the room "b"
    ],
)
def test_a_string_a_mapping_or_null_where_a_snapshot_writes_a_list_is_refused(
    damage: Callable[[dict[str, Any], object], None], value: object
) -> None:
    """Each list of a snapshot, and each pair or entry in one, was read by iterating it:
    a string was taken apart into one-character keys, nicks, ids and JIDs, and an empty
    string, a mapping or null made the list empty."""
    snapshot = _busy_snapshot()
    damage(snapshot, value)
    with pytest.raises(SnapshotError, match=re.escape(f"not a list: {value!r}")):
        Router.restore(snapshot, now=10.0, sessions=True)


def _v1_history(snapshot: dict[str, Any], value: object) -> None:
    snapshot["accounts"][0]["rooms"][0]["history"][1] = value


def _v1_entry(snapshot: dict[str, Any], value: object) -> None:
    snapshot["accounts"][0]["rooms"][0]["history"][1][0] = value


@pytest.mark.parametrize(
    ("damage", "value"),
    [
        (_set(lambda s: s, "timers"), ""),
        (_set(lambda s: s, "timers"), {}),
        (_set(lambda s: s, "accounts"), {}),
        (_set(lambda s: s["accounts"][0], "rooms"), ""),
        (_set(lambda s: s["accounts"][0]["rooms"][0], "history"), "ab"),
        (_v1_history, ""),
        (_v1_history, {}),
        (_v1_entry, "abcde"),
    ],
)
def test_a_version_1_list_that_is_no_list_is_refused(
    damage: Callable[[dict[str, Any], object], None], value: object
) -> None:
    """The upgrade from version 1 iterated its timers, accounts, rooms and history
    entries: ``""`` or a mapping made them empty, and a string was taken apart."""
    old = json.loads(V1.read_text())
    damage(old, value)
    with pytest.raises(SnapshotError, match=re.escape(f"not a list: {value!r}")):
        Router.restore(old, now=1_800_000_010.0)


def test_a_timer_s_id_written_as_a_room_s_place_is_refused() -> None:
    """A timer's detail is a room by its place only when it is a JID: an IQ's deadline
    naming room 0 became one for an IQ with the room's address as its id, and the IQ's
    own deadline was lost."""
    snapshot = _busy_snapshot()
    _, kind, _, about, is_jid = snapshot["timers"][2]
    assert (kind, about, is_jid) == ("iq", "mmx-1", False)
    snapshot["timers"][2][3] = 0
    with pytest.raises(SnapshotError, match=re.escape("not a string: 0")):
        Router.restore(snapshot, now=10.0, sessions=True)


@pytest.mark.parametrize(
    ("timer", "kind"),
    [
        (0, "iq"),  # a room's deadline as an IQ's
        (3, "iq"),
        (3, "rejoin"),  # version 1's name, which the upgrade turns into "state"
        (3, "bogus"),
        (2, "nick"),  # an IQ's deadline as a room's
        (2, "bogus"),
    ],
)
def test_a_timer_of_a_kind_the_router_has_no_handler_for_is_refused(timer: int, kind: str) -> None:
    """A timer restored under a kind that does not go with its detail was taken, and the
    router raised ``KeyError`` when it fell due (or timed out an IQ for a room's timer)."""
    snapshot = _busy_snapshot()
    snapshot["timers"][timer][1] = kind
    with pytest.raises(SnapshotError, match=re.escape(f"not a timer kind: {kind!r}")):
        Router.restore(snapshot, now=10.0, sessions=True)


@pytest.mark.parametrize(
    ("damage", "value"),
    [
        (_set(lambda s: _room(s)["v"], "lm"), 1e300),
        (_set(lambda s: _room(s)["v"], "lm"), 253402300800.0),  # 10000-01-01
        (_set(lambda s: _room(s)["v"], "ja"), 1e300),
        (_set(lambda s: _room(s)["v"]["h"][0], 1), 1e300),
    ],
)
def test_a_time_past_the_year_9999_that_a_stamp_would_say_is_refused(
    damage: Callable[[dict[str, Any], object], None], value: float
) -> None:
    """The last message's time, the join's and a history entry's are written as XEP-0082
    stamps (a rejoin's ``since``, a late joiner's ``<delay/>``): past the year 9999, where
    the router's clock never goes, they were restored, and the restart's rejoin raised
    ``OverflowError``."""
    snapshot = _busy_snapshot()
    damage(snapshot, value)
    with pytest.raises(SnapshotError, match=re.escape(f"a time after the year 9999: {value!r}")):
        Router.restore(snapshot, now=10.0)


def _no_pending_iqs(snapshot: dict[str, Any], value: object) -> None:
    _account_of(snapshot)["pending_iqs"] = value


@pytest.mark.parametrize(
    ("damage", "value", "why"),
    [
        (_set(lambda s: s["timers"][2], 3), "", "an IQ deadline for no IQ in flight: ''"),
        (_no_pending_iqs, [], "an IQ deadline for no IQ in flight: 'mmx-1'"),
        (
            _set(lambda s: s["timers"][3], 3),
            "attic@muc.example.net",
            "a nick deadline for a room the account is not in: attic@muc.example.net",
        ),
    ],
)
def test_a_deadline_for_an_iq_or_a_room_the_account_does_not_have_is_refused(
    damage: Callable[[dict[str, Any], object], None], value: object, why: str
) -> None:
    """An IQ's deadline names an IQ in flight and a room's deadline a room the account
    is in: restored without them, the router raised ``KeyError`` when it fell due."""
    snapshot = _busy_snapshot()
    damage(snapshot, value)
    with pytest.raises(SnapshotError, match=re.escape(why)):
        Router.restore(snapshot, now=10.0, sessions=True)


def test_a_state_deadline_for_a_joined_room_is_refused() -> None:
    """A joined room has no state deadline (joining, leaving and the rejoin's have): one
    restored made the router raise ``LifecycleError``, which means a bug in the router,
    when it fell due."""
    snapshot = _busy_snapshot()
    assert snapshot["timers"][3][1:4] == ["nick", 0, 1]
    snapshot["timers"][3][1] = "state"
    with pytest.raises(
        SnapshotError,
        match=re.escape("a state deadline for a room joined: garden@muc.example.net"),
    ):
        Router.restore(snapshot, now=10.0, sessions=True)


def _restarted_snapshot() -> dict[str, Any]:
    """The lounge, bookmarked, restored after a restart: waiting for its rejoin's turn."""
    snapshot: dict[str, Any] = json.loads(json.dumps(_bookmarked_and_restarted().router.snapshot()))
    assert (_room(snapshot)["s"], _room(snapshot)["rd"]) == ("rejoin-wait", True)
    assert snapshot["join_queue"] == [[str(ALICE), str(ROOM)]] and snapshot["timers"] == []
    Router.restore(json.loads(json.dumps(snapshot)), now=10.0)  # undamaged
    return snapshot


def test_a_room_restored_after_a_restart_in_another_state_than_the_restart_leaves_is_refused() -> (
    None
):
    """A restart leaves each room it keeps waiting for its rejoin or joined until its turn
    to leave; one written as leaving made the router raise ``LifecycleError`` (a bug in
    the router, by its documentation) at the turn, which found no transition."""
    snapshot = _restarted_snapshot()
    _room(snapshot)["s"] = "leaving"
    with pytest.raises(
        SnapshotError, match=re.escape(f"{ROOM}, restored after a restart, is leaving")
    ):
        Router.restore(snapshot, now=10.0)


@pytest.mark.parametrize("state", ["joining", "leaving", "rejoin-wait", "rejoin-sent"])
def test_a_room_that_waits_with_no_deadline_is_refused(state: str) -> None:
    """Every waiting state has its deadline, or its turn in the autojoin queue: a room
    written waiting with neither would never move on, whatever came."""
    snapshot = _busy_snapshot()
    lounge = snapshot["accounts"][0]["rooms"][0]
    lounge["s"] = state
    snapshot["timers"] = [t for t in snapshot["timers"] if t[1] == "iq"]
    with pytest.raises(SnapshotError, match=re.escape(f"{ROOM} waits ({state}) with no deadline")):
        Router.restore(snapshot, now=10.0, sessions=True)
    restarted = _restarted_snapshot()
    restarted["join_queue"] = []
    with pytest.raises(SnapshotError, match=re.escape(f"{ROOM} waits (rejoin-wait) with no")):
        Router.restore(restarted, now=10.0)


def test_a_joined_room_s_deadline_for_a_room_not_joined_is_refused() -> None:
    """A nick change's, a resync's and a disconnect's grace deadlines belong to a joined
    room: leaving JOINED cancels them. One written for a room in another state is damage."""
    snapshot = _busy_snapshot()
    garden = snapshot["accounts"][0]["rooms"][1]
    garden["s"] = "rejoin-wait"
    snapshot["timers"].append([70.0, "state", 0, 1, True])
    with pytest.raises(
        SnapshotError, match=re.escape(f"a nick deadline for a room not joined: {OTHER_ROOM}")
    ):
        Router.restore(snapshot, now=10.0, sessions=True)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (
            lambda s: _room(s)["v"]["h"][1].__setitem__(3, "209"),
            f"{ALICE}: {ROOM}: not a whole number: '209'",
        ),
        (
            lambda s: s["accounts"][0]["memory"][0][1].__setitem__("last", True),
            f"{ALICE}: the memory of {ROOM}: not a whole number: True",
        ),
        (
            lambda s: _room(s).pop("s"),
            f"{ALICE}: {ROOM}: malformed snapshot: KeyError('state')",
        ),
        (
            lambda s: s["timers"][0].__setitem__(0, "soon"),
            "timer 0: not a time in seconds: 'soon'",
        ),
        (lambda s: s.__setitem__("counter", "0"), "not a whole number: '0'"),
    ],
)
def test_a_refusal_says_which_account_room_or_timer_is_damaged(
    damage: Callable[[dict[str, Any]], object], why: str
) -> None:
    """A snapshot holds many accounts, rooms and timers: the error names the one damaged
    (the snapshot's own fields are named by the error alone)."""
    snapshot = json.loads(json.dumps(_bounced_m2_of_three().router.snapshot()))
    damage(snapshot)
    with pytest.raises(SnapshotError) as refused:
        Router.restore(snapshot, now=10.0)
    assert str(refused.value) == why


@pytest.mark.parametrize("sessions", [True, False])
def test_a_snapshot_naming_an_account_twice_is_refused(sessions: bool) -> None:
    """One account, one entry: a snapshot that holds an account twice (here in another
    spelling of the same JID) is damaged, and restoring or adopting it is refused whole,
    not read with one entry silently replacing the other."""
    h = Harness()
    h.joined(PHONE)
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    twin = json.loads(json.dumps(snapshot["accounts"][0]))
    twin["jid"] = "ALICE@example.org"
    snapshot["accounts"].append(twin)
    refusal = r"^ALICE@example\.org: the account is in the snapshot twice$"
    with pytest.raises(SnapshotError, match=refusal):
        Router.restore(snapshot, now=1.0, sessions=sessions)
    other = Harness()
    other.joined(PHONE.with_resource("pad")._replace(local="bob"))
    before = other.router.snapshot()
    with pytest.raises(SnapshotError, match=refusal):
        other.router.adopt(snapshot, now=1.0)
    assert other.router.snapshot() == before
