"""One nick across devices: changes, conflicts, the nick policy (XEP-0045 §7.6, §7.2.9)."""

from __future__ import annotations

import json

from helpers import (
    ALICE,
    LAPTOP,
    PHONE,
    ROOM,
    TABLET,
    Harness,
    delivered,
    join,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import Config, Deliver, Discard, DiscardReason, Router, Send, Stanza

CHANGED = """
<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='member' role='participant' nick='alice2'/><status code='303'/><status code='110'/>
  </x>
</presence>
"""
CONFLICT = """
<presence type='error' from='lounge@muc.example.net/bob' to='alice@example.org' id='{id}'>
  <error type='cancel' by='lounge@muc.example.net'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>
</presence>
"""


def test_nick_change_goes_out_from_the_account_and_everyone_sees_the_result() -> None:
    """XEP-0045 §7.6: presence to room/newnick; the 303 pair reaches every session."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    change = x("<presence to='lounge@muc.example.net/alice2' id='n1'/>")
    assert h.session(LAPTOP, change) == [Send(stanza=change.with_from(ALICE))]
    gone = x(CHANGED)
    assert h.room(gone) == [Deliver(session=s, stanza=gone.with_to(s)) for s in (PHONE, LAPTOP)]
    me = self_presence("alice2", pid="n1")
    assert h.room(me) == [Deliver(session=s, stanza=me.with_to(s)) for s in (PHONE, LAPTOP)]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].nick_change is None


def test_refused_nick_change_goes_to_the_session_that_asked_only() -> None:
    """Fixture d: 409 comes from the requested occupant JID; only the asker sees it, with its id."""
    h = Harness()
    h.joined(PHONE, LAPTOP, others=("bob",))
    h.session(LAPTOP, x("<presence to='lounge@muc.example.net/bob' id='n2'/>"))
    refused = x(CONFLICT.format(id="n2"))
    assert h.room(refused) == [Deliver(session=LAPTOP, stanza=refused.with_to(LAPTOP))]
    # Even when the room does not reflect the id.
    h.session(PHONE, x("<presence to='lounge@muc.example.net/bob' id='mine'/>"))
    no_id = x(CONFLICT.format(id="x")).replace(id=None)
    assert h.room(no_id) == [Deliver(session=PHONE, stanza=no_id.replace(to=PHONE, id="mine"))]


def test_change_requested_as_a_join_gets_the_room_state_again() -> None:
    """Fixture finding 6: a join to another nick is change plus resync; only the asker resyncs."""
    h = Harness()
    h.joined(PHONE, LAPTOP, others=("bob",))
    request = x(
        "<presence to='lounge@muc.example.net/alice2' id='n3'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    )
    assert h.session(PHONE, request) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice2' id='n3'/>"
            )
        )
    ]
    h.room(x(CHANGED))
    me = self_presence("alice2")
    actions = h.room(me)
    assert actions == [
        Deliver(session=PHONE, stanza=me.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=me.with_to(LAPTOP)),
        Deliver(session=PHONE, stanza=occupant("bob", to=PHONE)),
        Deliver(session=PHONE, stanza=self_presence("alice2", pid="n3").with_to(PHONE)),
        Deliver(session=PHONE, stanza=subject().with_to(PHONE)),
    ]


def test_one_nick_change_at_a_time() -> None:
    """A second request while the room has not answered the first waits (resource-constraint)."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/one' id='a'/>"))
    assert h.session(LAPTOP, x("<presence to='lounge@muc.example.net/two' id='b'/>")) == [
        Deliver(
            session=LAPTOP,
            stanza=x(
                "<presence type='error' from='lounge@muc.example.net/two' to='alice@example.org/laptop' id='b'>"
                "<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
            ),
        )
    ]


def test_follow_policy_makes_a_late_joiners_nick_the_accounts() -> None:
    """Config(nick_policy='follow'): a session joining as 'al' renames the account for all."""
    h = Harness(Router(Config(nick_policy="follow")))
    h.joined(PHONE, others=())
    actions = h.session(TABLET, join("al", jid="t1"))
    assert actions[-1] == Send(
        stanza=x("<presence from='alice@example.org' to='lounge@muc.example.net/al' id='t1'/>")
    )
    assert actions[0] == Deliver(
        session=TABLET, stanza=self_presence(codes=(110, 210), pid="t1").with_to(TABLET)
    )


def test_follow_policy_late_joiner_gets_the_room_state_once() -> None:
    """nick_policy='follow': the late join answers the session from the router's state;
    the rename it causes is for the room alone.

    Its join presence was sent on as a join-style change (change and resync, fixture
    finding 6): once the room confirmed the new nick, the session got the occupants, its
    self-presence, the history and the subject a second time.
    """
    h = Harness(Router(Config(nick_policy="follow")))
    h.joined(PHONE)
    h.room(
        x(
            "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='m1'>"
            "<body>hello</body></message>"
        )
    )
    actions = h.session(TABLET, join("al", jid="t1"))
    assert actions[-1] == Send(
        stanza=x("<presence from='alice@example.org' to='lounge@muc.example.net/al' id='t1'/>")
    )
    gone = x(CHANGED.replace("alice2", "al"))
    assert h.room(gone) == [Deliver(session=s, stanza=gone.with_to(s)) for s in (PHONE, TABLET)]
    me = self_presence("al", pid="t1")
    assert h.room(me) == [Deliver(session=s, stanza=me.with_to(s)) for s in (PHONE, TABLET)]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].nick_change is None


def test_follow_policy_refused_rename_leaves_the_late_joiner_as_it_was_told() -> None:
    """nick_policy='follow': the late joiner is in, under the account's nick (210).

    A refused rename (409), or one that cannot be asked because another is in flight,
    reached it as a presence error carrying its join's id: a client takes that for a
    failed join, while the router kept it attached and forked it the room's traffic.
    """
    h = Harness(Router(Config(nick_policy="follow")))
    h.joined(PHONE, others=("bob",))
    actions = h.session(TABLET, join("bob", jid="t1"))
    assert actions[-1] == Send(
        stanza=x("<presence from='alice@example.org' to='lounge@muc.example.net/bob' id='t1'/>")
    )
    refused = x(CONFLICT.format(id="t1"))
    assert h.room(refused) == [Discard(stanza=refused, reason=DiscardReason.NO_SESSION)]
    view = h.router.occupancy(ALICE, ROOM)
    assert view is not None and view.attached == (PHONE, TABLET)
    # A rename in flight: a late joiner asking for yet another nick keeps the account's.
    h.session(PHONE, x("<presence to='lounge@muc.example.net/one' id='a'/>"))
    actions = h.session(LAPTOP, join("two", jid="l1"))
    assert not [a for a in actions if isinstance(a, Send) or a.stanza.type == "error"]
    assert actions[1] == Deliver(
        session=LAPTOP, stanza=self_presence(codes=(110, 210), pid="l1").with_to(LAPTOP)
    )


def test_follow_policy_rename_timing_out_tells_the_late_joiner_nothing() -> None:
    """The room never answers the rename a late joiner caused: nobody gets an error."""
    h = Harness(Router(Config(nick_policy="follow", nick_change_timeout=10.0)))
    h.joined(PHONE, others=())
    h.session(TABLET, join("al", jid="t1"))
    assert h.timer(10.0) == []
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].nick_change is None


def test_default_policy_never_asks_the_room_and_never_conflicts() -> None:
    """A second device joining with its own nick is attached under the account's (210)."""
    h = Harness()
    h.joined(PHONE, others=())
    actions = h.session(TABLET, join("alice-tablet", jid="t1"))
    assert not [a for a in actions if isinstance(a, Send)]


SHUTDOWN = """
<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='member' role='none'/><status code='332'/><status code='110'/>
  </x>
</presence>
"""


def test_a_nick_change_while_the_account_rejoins_is_refused_busy_and_not_held() -> None:
    """The account is out of the room (332), waiting to join again: the room cannot take a
    nick change now. The session hears at once that it may ask again (resource-constraint,
    wait), where the change used to be held as a status and never answered; the rejoin
    goes under the account's nick, with the session's presence as it was."""
    h = Harness()
    h.joined(PHONE)
    h.room(x(SHUTDOWN))
    change = x("<presence to='lounge@muc.example.net/alicia' id='n9'><show>dnd</show></presence>")
    assert h.session(PHONE, change) == [
        Deliver(
            session=PHONE,
            stanza=x(
                "<presence from='lounge@muc.example.net/alicia' to='alice@example.org/phone'"
                " type='error' id='n9'><error type='wait'>"
                "<resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                "</presence>"
            ),
        )
    ]
    due = h.router.next_deadline()
    assert due is not None
    [rejoin] = h.timer(due)
    assert isinstance(rejoin, Send)
    assert rejoin.stanza.to == ROOM.with_resource("alice")
    assert rejoin.stanza.find("{jabber:client}show") is None  # the refused presence not held
    # A status alone, under the account's nick, is still held for the rejoin.
    away = x("<presence to='lounge@muc.example.net/alice' id='a1'><show>away</show></presence>")
    assert h.session(PHONE, away) == [Discard(stanza=away, reason=DiscardReason.HELD)]


def _busy(nick: str, pid: str) -> Stanza:
    return x(
        f"<presence from='lounge@muc.example.net/{nick}' to='alice@example.org/phone'"
        f" type='error' id='{pid}'><error type='wait'>"
        "<resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )


def test_a_nick_change_in_flight_when_the_room_loses_the_account_is_answered_busy() -> None:
    """The session asked for another nick; before the room answered, it let the account
    go (no reason given, 333 or 332): the account joins again under its nick, and the change
    can get no answer any more. The session hears it may ask again (resource-constraint,
    wait), as it would asking a moment later; it used to wait for good."""
    for lost, rejoins_now in (
        (occupant("alice", unavailable=True, codes=(110,)), True),
        (occupant("alice", unavailable=True, codes=(110, 333)), False),
        (x(SHUTDOWN), False),
    ):
        h = Harness()
        h.joined(PHONE, LAPTOP)
        change = x("<presence to='lounge@muc.example.net/alicia' id='n1'/>")
        assert h.session(PHONE, change) == [Send(stanza=change.with_from(ALICE))]
        busy = Deliver(session=PHONE, stanza=_busy("alicia", "n1"))
        actions = h.room(lost)
        assert actions[:2] == [Discard(stanza=lost, reason=DiscardReason.REJOINING), busy]
        if rejoins_now:
            [rejoin] = actions[2:]
            assert isinstance(rejoin, Send) and rejoin.stanza.to == ROOM.with_resource("alice")
        else:
            assert actions[2:] == []
        assert delivered(h.timer(1000.0), PHONE) == []  # answered once, no more


def test_a_follower_joining_under_another_nick_while_a_restart_s_rejoin_goes_keeps_the_account_s() -> (
    None
):
    """XEP-0045 §7.2.9, §7.6: restarted before the room's subject came, the router answers a
    device's join from the table and rejoins (the table is not the whole room). Out of the
    room until that rejoin is answered, the account has no nick to change: the device is
    told the account's nick (210) and no change is asked for, which left a nick deadline
    on a room not joined, in a snapshot the router then refused to restore."""
    h = Harness(Router(Config(nick_policy="follow")))
    h.session(PHONE, join())
    h.room(self_presence())  # in; the subject is still to come
    kept = json.loads(json.dumps(h.router.snapshot()))
    h.router = Router.restore(kept, now=h.now, config=h.router.config, sessions=False)
    told = x(
        "<presence from='lounge@muc.example.net/alice' to='alice@example.org/laptop' id='j2'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' "
        "role='participant'/><status code='110'/><status code='210'/></x></presence>"
    )
    rejoin = x(
        "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='mmx-1'>"
        "<x xmlns='http://jabber.org/protocol/muc'>"
        "<history since='1970-01-01T00:00:00Z'/></x></presence>"
    )
    assert h.session(LAPTOP, join(nick="dave", jid="j2")) == [
        Deliver(session=LAPTOP, stanza=told),
        Send(stanza=rejoin),
    ]
    assert "nick-timeout" not in [kind for _, kind, _, _ in h.router.upcoming()]
    snapshot = json.loads(json.dumps(h.router.snapshot()))
    restored = Router.restore(snapshot, now=h.now, sessions=True)
    assert json.loads(json.dumps(restored.snapshot())) == snapshot
