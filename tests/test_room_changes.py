"""Changes the room announces: nick changes, configuration flags, errors (XEP-0045 §7.6, §10.2.1)."""

from __future__ import annotations

from helpers import (
    ALICE,
    LAPTOP,
    OTHER_ROOM,
    PHONE,
    ROOM,
    Harness,
    join,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import JID, Config, Continue, Deliver, OccupancyState, Router, Send

NICK_CHANGED = """
<presence type='unavailable' from='lounge@muc.example.net/alice' to='alice@example.org'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='member' role='participant' nick='alice2'/>
    <status code='303'/><status code='110'/>
  </x>
</presence>
"""


def test_room_initiated_nick_change_is_adopted_and_forked() -> None:
    """XEP-0045 §7.6: 303 with the new nick; the account takes the room's nick, always."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    change = x(NICK_CHANGED)
    assert h.room(change) == [
        Deliver(session=PHONE, stanza=change.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=change.with_to(LAPTOP)),
    ]
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert occ.view.nick == "alice2"
    assert occ.state is OccupancyState.JOINED
    me = self_presence("alice2")
    assert h.room(me) == [
        Deliver(session=PHONE, stanza=me.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=me.with_to(LAPTOP)),
    ]
    assert occ.view.self_presence == me.replace(to=None)  # kept without its to
    # Leaving now names the new nick.
    h.session(LAPTOP, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    [action] = h.session(
        PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>")
    )
    assert action == Send(
        stanza=x(
            "<presence from='alice@example.org' to='lounge@muc.example.net/alice2' type='unavailable'/>"
        )
    )


def test_303_without_a_new_nick_changes_nothing_but_is_forwarded() -> None:
    """A malformed 303 is still shown to the sessions; the nick stays as the room last said."""
    h = Harness()
    h.joined(PHONE)
    odd = x(NICK_CHANGED.replace(" nick='alice2'", ""))
    assert h.room(odd) == [Deliver(session=PHONE, stanza=odd.with_to(PHONE))]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].view.nick == "alice"


def test_configuration_change_codes_update_the_flags_late_joiners_see() -> None:
    """XEP-0045 §10.2.1: 170/171 logging, 172/173 anonymity; the messages are forwarded."""
    h = Harness()
    h.joined(PHONE, others=())
    for code, flags in ((172, [100]), (170, [100, 170]), (173, [170]), (171, [])):
        change = x(
            f"<message type='groupchat' from='lounge@muc.example.net' to='alice@example.org'>"
            f"<x xmlns='http://jabber.org/protocol/muc#user'><status code='{code}'/></x></message>"
        )
        assert h.room(change) == [Deliver(session=PHONE, stanza=change.with_to(PHONE))]
        assert sorted(h.router._core.table.accounts[ALICE].rooms[ROOM].view.flags) == flags
    h.room(
        x(
            "<message type='groupchat' from='lounge@muc.example.net' to='alice@example.org'>"
            "<x xmlns='http://jabber.org/protocol/muc#user'><status code='172'/><status code='104'/>"
            "<status code='abc'/></x></message>"
        )
    )
    actions = h.session(LAPTOP, join(jid="j2"))
    assert actions[0] == Deliver(
        session=LAPTOP, stanza=self_presence(codes=(100, 110), pid="j2").with_to(LAPTOP)
    )


def test_a_room_made_fully_anonymous_no_longer_shows_100_to_late_joiners() -> None:
    """XEP-0045 §10.2.1: 174 (now fully-anonymous) ends 100 as 173 (semi-anonymous) does."""
    h = Harness()
    h.session(PHONE, join())
    h.room(self_presence(codes=(100, 110), pid="j1"))
    change = x(
        "<message type='groupchat' from='lounge@muc.example.net' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><status code='174'/></x></message>"
    )
    assert h.room(change) == [Deliver(session=PHONE, stanza=change.with_to(PHONE))]
    assert h.session(LAPTOP, join(jid="j2")) == [
        Deliver(session=LAPTOP, stanza=self_presence(codes=(110,), pid="j2").with_to(LAPTOP))
    ]


def test_status_codes_from_an_occupant_do_not_change_the_flags() -> None:
    """Only the room itself announces configuration changes."""
    h = Harness()
    h.joined(PHONE)
    fake = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org'>"
        "<body>hi</body><x xmlns='http://jabber.org/protocol/muc#user'><status code='172'/></x></message>"
    )
    h.room(fake)
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].view.flags == set()


def test_self_presence_without_muc_user_payload_gets_one_for_210() -> None:
    """A sparse room self-presence (only the reflected join id) still tells a session its
    nick was changed."""
    h = Harness()
    h.session(PHONE, join())
    h.session(LAPTOP, join("al", jid=None))
    bare = x("<presence from='lounge@muc.example.net/alice' to='alice@example.org' id='j1'/>")
    assert h.room(bare) == [
        Deliver(session=PHONE, stanza=bare.with_to(PHONE)),
        Deliver(
            session=LAPTOP,
            stanza=x(
                "<presence from='lounge@muc.example.net/alice' to='alice@example.org/laptop'>"
                "<x xmlns='http://jabber.org/protocol/muc#user'><status code='210'/></x></presence>"
            ),
        ),
    ]


def test_presence_error_while_joined_goes_to_the_session_that_caused_it() -> None:
    """RFC 6120 §8.3: a room's error answers one stanza; the occupancy stays joined."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    probe = x("<presence to='lounge@muc.example.net/carol' type='probe' id='pr1'/>")
    assert h.session(LAPTOP, probe) == [Send(stanza=probe.with_from(ALICE))]
    error = x(
        "<presence type='error' from='lounge@muc.example.net/carol' to='alice@example.org' id='pr1'>"
        "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    assert h.room(error) == [Deliver(session=LAPTOP, stanza=error.with_to(LAPTOP))]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].state is OccupancyState.JOINED


def test_shutdown_leaves_every_room_and_forgets_everything() -> None:
    """Fixtures finding 12: a stopping server must leave each room itself, or ghosts stay."""
    h = Harness()
    h.joined(PHONE)
    h.joined(PHONE, room=OTHER_ROOM)
    h.session(LAPTOP, join(room=JID.parse("joining@muc.example.net")))
    assert h.router.shutdown(1.0) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' type='unavailable'/>"
            )
        ),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='garden@muc.example.net/alice' type='unavailable'/>"
            )
        ),
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='joining@muc.example.net/alice' type='unavailable'/>"
            )
        ),
    ]
    assert h.router._core.table.accounts == {}


def test_shutdown_skips_rooms_already_being_left() -> None:
    """An unavailable is already on its way: one is enough."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    assert h.router.shutdown(0.0) == []


def test_session_in_two_rooms_leaving_one_stays_in_the_other() -> None:
    """Attachments are per room: leaving one room does not touch the other."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.joined(PHONE, LAPTOP, room=OTHER_ROOM)
    h.session(LAPTOP, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    account = h.router._core.table.accounts[ALICE]
    assert list(account.sessions[LAPTOP]) == [OTHER_ROOM]
    assert list(account.rooms[OTHER_ROOM].attached) == [PHONE, LAPTOP]


def test_config_is_exposed() -> None:
    """Router.config is the configuration it was made with."""
    config = Config(max_tracked_ids=3)
    assert Router(config).config is config
    assert Router().config == Config()


def test_subject_from_the_leaving_state_is_not_remembered() -> None:
    """While leaving, the room's traffic is shown, not cached for later joiners."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>"))
    new = subject("late news")
    assert h.room(new) == [Deliver(session=PHONE, stanza=new.with_to(PHONE))]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].view.subject == subject().replace(
        to=None
    )


def test_other_configuration_and_affiliation_notices_are_forwarded() -> None:
    """XEP-0045 §10.2.1 (102, 103, 104) reach the sessions; §9.3 101 for a room the account
    is not in follows normal routing."""
    h = Harness()
    h.joined(PHONE)
    for code in ("102", "103", "104"):
        notice = x(
            f"<message type='groupchat' from='lounge@muc.example.net' to='alice@example.org'>"
            f"<x xmlns='http://jabber.org/protocol/muc#user'><status code='{code}'/></x></message>"
        )
        assert h.room(notice) == [Deliver(session=PHONE, stanza=notice.with_to(PHONE))]
    elsewhere = x(
        "<message from='garden@muc.example.net' to='alice@example.org'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' jid='alice@example.org'/>"
        "<status code='101'/></x></message>"
    )
    assert h.room(elsewhere) == [Continue(stanza=elsewhere)]


def test_the_rejoins_self_presence_sets_the_flags_late_joiners_see() -> None:
    """XEP-0045 §7.2.2, §11.1: the room's configuration may have changed while it dropped the
    account; the rejoin's self-presence says what it is now (logged, no longer non-anonymous)."""
    h = Harness()
    h.session(PHONE, join())
    h.room(self_presence(codes=(100, 110), pid="j1"))
    h.room(occupant("alice", unavailable=True, codes=(110, 332), affiliation="member"))
    h.timer(5.0)  # the rejoin, id mmx-1
    rejoined = self_presence(codes=(110, 170), pid="mmx-1")
    assert h.room(rejoined) == [Deliver(session=PHONE, stanza=rejoined.replace(to=PHONE, id=None))]
    # Answered when the rejoin's join sequence ends: here, no subject, at Config.resync_timeout.
    assert h.session(LAPTOP, join(jid="j2")) == []
    assert h.timer(65.0) == [
        Deliver(session=LAPTOP, stanza=self_presence(codes=(110, 170), pid="j2").with_to(LAPTOP))
    ]
