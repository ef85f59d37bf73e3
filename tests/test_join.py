"""Joining a room: the account joins once, sessions attach (XEP-0045 §7.1, §7.2)."""

from __future__ import annotations

import pytest

from helpers import (
    ALICE,
    LAPTOP,
    MUC_X,
    PHONE,
    ROOM,
    TABLET,
    Harness,
    join,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import (
    Archive,
    Config,
    Deliver,
    Discard,
    DiscardReason,
    OccupancyState,
    Router,
    Send,
    Stanza,
    serialize,
)


def test_first_join_is_sent_from_the_bare_jid_keeping_id_and_muc_children() -> None:
    """XEP-0045 §7.2.1, §7.2.5, §7.2.14: the join keeps its id, password and history request."""
    h = Harness()
    request = x(
        """
        <presence to='lounge@muc.example.net/alice' id='j1'>
          <x xmlns='http://jabber.org/protocol/muc'>
            <history maxstanzas='20'/>
            <password>cauldronburn</password>
          </x>
        </presence>
        """
    )
    assert h.session(PHONE, request) == [
        Send(
            stanza=x(
                """
                <presence from='alice@example.org' to='lounge@muc.example.net/alice' id='j1'>
                  <x xmlns='http://jabber.org/protocol/muc'>
                    <history maxstanzas='20'/><password>cauldronburn</password>
                  </x>
                </presence>
                """
            )
        )
    ]
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert occ.state is OccupancyState.JOINING
    assert list(occ.pending) == [PHONE]
    assert occ.attached == {}


def test_join_drops_entity_caps_from_what_the_room_sees() -> None:
    """XEP-0115 caps would make occupants query the account for a client's features."""
    h = Harness()
    request = x(
        """
        <presence to='lounge@muc.example.net/alice' id='j1'>
          <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>
          <x xmlns='http://jabber.org/protocol/muc'/>
        </presence>
        """
    )
    assert h.session(PHONE, request) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice' id='j1'>"
                "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
            )
        )
    ]


def test_second_session_joining_in_flight_waits_and_sends_nothing() -> None:
    """XEP-0045 §7.2: only one join goes to the room while the account's join is in flight."""
    h = Harness()
    h.session(PHONE, join())
    assert h.session(LAPTOP, join(jid="j2")) == []
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert list(occ.pending) == [PHONE, LAPTOP]


def test_join_sequence_reaches_every_pending_session_in_order() -> None:
    """XEP-0045 §7.1, §7.2.2: occupants, then self-presence (110), then subject, to everyone."""
    h = Harness()
    h.session(PHONE, join())
    h.session(LAPTOP, join(jid="j2"))
    bob = occupant("bob")
    assert h.room(bob) == [
        Deliver(session=PHONE, stanza=bob.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=bob.with_to(LAPTOP)),
    ]
    me = self_presence(pid="j1")
    assert h.room(me) == [
        Deliver(session=PHONE, stanza=me.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=me.with_to(LAPTOP).replace(id="j2")),
    ]
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert occ.state is OccupancyState.JOINED
    assert list(occ.attached) == [PHONE, LAPTOP]
    assert occ.pending == {}
    topic = subject()
    assert h.room(topic) == [
        Deliver(session=PHONE, stanza=topic.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=topic.with_to(LAPTOP)),
    ]


def test_self_presence_recognised_by_its_reflected_id_without_110() -> None:
    """XEP-0045 §7.2.3: a self-presence without 110 still carries the join's id."""
    h = Harness()
    h.session(PHONE, join())
    me = self_presence(codes=(), pid="j1")
    assert h.room(me) == [Deliver(session=PHONE, stanza=me.with_to(PHONE))]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].state is OccupancyState.JOINED


def test_room_assigned_nick_is_adopted_and_pending_sessions_learn_it() -> None:
    """XEP-0045 §7.2.9: the room may change the nick (210); the account takes the room's."""
    h = Harness()
    h.session(PHONE, join())
    h.session(LAPTOP, join("al", jid="j2"))
    me = self_presence("alice_", codes=(110, 210))
    assert h.room(me) == [
        Deliver(session=PHONE, stanza=me.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=me.with_to(LAPTOP)),
    ]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].view.nick == "alice_"


def test_pending_session_that_asked_for_another_nick_gets_210() -> None:
    """XEP-0045 §7.2.9: a session attached under the account's nick is told by 210."""
    h = Harness()
    h.session(PHONE, join())
    h.session(LAPTOP, join("al", jid="j2"))
    me = self_presence()
    assert h.room(me) == [
        Deliver(session=PHONE, stanza=me.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=self_presence(codes=(110, 210)).with_to(LAPTOP)),
    ]


def test_late_join_is_answered_from_state_in_xep_order() -> None:
    """XEP-0045 §7.1: others' presences, then self-presence with 110 last, then the subject."""
    h = Harness()
    h.joined(PHONE, others=("bob", "carol"))
    actions = h.session(LAPTOP, join(jid="late"))
    assert actions == [
        Deliver(session=LAPTOP, stanza=occupant("bob", to=LAPTOP)),
        Deliver(session=LAPTOP, stanza=occupant("carol", to=LAPTOP)),
        Deliver(session=LAPTOP, stanza=self_presence(pid="late").with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP)),
    ]
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert list(occ.attached) == [PHONE, LAPTOP]


def test_late_join_with_other_nick_gets_210_and_the_account_nick() -> None:
    """XEP-0045 §7.2.9: a late joiner asking for another nick is attached under the account's."""
    h = Harness()
    h.joined(PHONE, others=())
    actions = h.session(LAPTOP, join("al", jid="late"))
    assert actions == [
        Deliver(session=LAPTOP, stanza=self_presence(codes=(110, 210), pid="late").with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP)),
    ]


def test_late_join_never_repeats_201_and_keeps_100_and_170() -> None:
    """XEP-0045 §7.2.3, §7.2.12, §10.1.1: 100 and 170 stay, 201 belongs to the creator only."""
    h = Harness()
    h.session(PHONE, join())
    created = self_presence(codes=(100, 110, 170, 201), role="moderator", affiliation="owner")
    assert h.room(created) == [Deliver(session=PHONE, stanza=created.with_to(PHONE))]
    h.room(subject(""))
    actions = h.session(LAPTOP, join(jid=None))
    expected = self_presence(codes=(100, 110, 170), role="moderator", affiliation="owner")
    assert actions == [
        Deliver(session=LAPTOP, stanza=expected.with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=subject("").with_to(LAPTOP)),
    ]


def test_late_join_before_the_subject_arrived_leaves_it_to_the_live_copy() -> None:
    """XEP-0045 §7.2.15: the room's subject is still on its way; it is forked when it comes."""
    h = Harness()
    h.session(PHONE, join())
    h.room(self_presence())
    assert h.session(LAPTOP, join(jid="late")) == [
        Deliver(session=LAPTOP, stanza=self_presence(pid="late").with_to(LAPTOP)),
    ]
    topic = subject()
    assert h.room(topic) == [
        Deliver(session=PHONE, stanza=topic.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=topic.with_to(LAPTOP)),
    ]


def test_late_join_with_an_empty_subject_sends_an_empty_subject() -> None:
    """XEP-0045 §7.2.15: a room without subject sends an empty <subject/>, never nothing."""
    h = Harness()
    h.session(PHONE, join())
    h.room(self_presence())
    empty = x(
        "<message type='groupchat' from='lounge@muc.example.net' to='alice@example.org'><subject/></message>"
    )
    h.room(empty)
    actions = h.session(LAPTOP, join(jid="late"))
    assert actions[-1] == Deliver(session=LAPTOP, stanza=empty.with_to(LAPTOP))


def test_repeat_join_from_an_attached_session_resyncs() -> None:
    """XEP-0045 §7.2.1: a join from an occupant already in the room is a full resync."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    actions = h.session(PHONE, join(jid="again"))
    assert actions == [
        Deliver(session=PHONE, stanza=occupant("bob", to=PHONE)),
        Deliver(session=PHONE, stanza=self_presence(pid="again").with_to(PHONE)),
        Deliver(session=PHONE, stanza=subject().with_to(PHONE)),
    ]
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert list(occ.attached) == [PHONE]


def test_repeat_join_while_pending_replaces_the_pending_request() -> None:
    """XEP-0045 §7.2.1: the newest join id is the one the session expects reflected."""
    h = Harness()
    h.session(PHONE, join())
    h.session(LAPTOP, join(jid="j2"))
    assert h.session(LAPTOP, join(jid="j3")) == []
    me = self_presence(pid="j1")
    assert h.room(me)[1] == Deliver(session=LAPTOP, stanza=me.with_to(LAPTOP).replace(id="j3"))


def test_room_without_reflected_id_keeps_its_own() -> None:
    """XEP-0045 §7.2.2: the room MAY reflect the join id; an unreflected presence is forwarded as is."""
    h = Harness()
    h.session(PHONE, join())
    h.session(LAPTOP, join(jid="j2"))
    me = self_presence(pid="room-made")
    assert h.room(me) == [
        Deliver(session=PHONE, stanza=me.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=me.with_to(LAPTOP)),
    ]


def test_three_sessions_share_one_occupancy() -> None:
    """The account is the only occupant: three sessions, one join, one entry in the room."""
    h = Harness()
    h.joined(PHONE, LAPTOP, TABLET)
    account = h.router._core.table.accounts[ALICE]
    assert list(account.rooms) == [ROOM]
    assert list(account.rooms[ROOM].attached) == [PHONE, LAPTOP, TABLET]
    assert {s: list(r) for s, r in account.sessions.items()} == {
        PHONE: [ROOM],
        LAPTOP: [ROOM],
        TABLET: [ROOM],
    }


def test_refused_join_forgets_the_occupancy() -> None:
    """XEP-0045 §7.2.6: not-authorized ends the attempt; the room is not ours any more."""
    h = Harness()
    h.session(PHONE, join())
    refused = x(
        "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org'>"
        "<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    assert h.room(refused) == [Deliver(session=PHONE, stanza=refused.replace(to=PHONE, id="j1"))]
    assert h.router._core.table.accounts == {}


def _said(sid: str, *, stamp: str | None = None) -> Stanza:
    """Bob's message with the room's stanza-id, live or (with ``stamp``) as history."""
    delay = "" if stamp is None else f"<delay xmlns='urn:xmpp:delay' stamp='{stamp}'/>"
    return x(
        f"<message from='{ROOM}/bob' to='{ALICE}' type='groupchat' id='{sid}'><body>{sid}</body>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='{sid}'/>{delay}</message>"
    )


def test_a_message_before_the_join_is_answered_reaches_the_session_in_history_order() -> None:
    """XEP-0045 §7.2.2, §7.2.15: history before live messages. A room that still counts
    the account (its leave never arrived) sends s2 before answering the new join; the
    waiting session gets it where the room's history puts it, after s1, once."""
    h = Harness()
    h.session(PHONE, join())
    early = _said("s2")
    assert h.room(early) == [Archive(account=ALICE, stanza=early)]
    assert h.room(early) == [Discard(stanza=early, reason=DiscardReason.DUPLICATE)]
    h.room(self_presence())
    older = _said("s1", stamp="2027-01-15T07:00:00Z")
    again = _said("s2", stamp="2027-01-15T08:00:00Z")
    assert h.room(older) == [
        Archive(account=ALICE, stanza=older),
        Deliver(session=PHONE, stanza=older.with_to(PHONE)),
    ]
    assert h.room(again) == [Deliver(session=PHONE, stanza=again.with_to(PHONE))]
    assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.DUPLICATE)]
    # Kept once in the occupancy's history: a device joining late gets s1 and s2 once each.
    h.room(subject())
    late = [a.stanza for a in h.session(LAPTOP, join(jid="j2")) if isinstance(a, Deliver)]
    assert [s.id for s in late if s.kind == "message"] == ["s1", "s2", None]


def test_a_message_before_the_join_is_answered_is_forked_without_an_archive() -> None:
    """With no archive to find it in, a join asking for no history would lose it: the
    waiting session gets it as it comes."""
    h = Harness(Router(Config(archive=False)))
    h.session(PHONE, join(inner="<history maxstanzas='0'/>"))
    early = _said("s2")
    assert h.room(early) == [Deliver(session=PHONE, stanza=early.with_to(PHONE))]


@pytest.mark.parametrize(
    "room_text",
    [
        "lounge@xn--xn--bcher-va-g02g.example",  # decodes to "xn--bcher-\u212ava", then b\u00fccher
        "lounge@xn--x-qc4g.example",  # decodes to a lone surrogate
    ],
)
def test_a_join_to_a_domain_with_no_u_label_goes_to_the_room_as_written(room_text: str) -> None:
    """An ``xn--`` label that names no U-label is the room's name as written: the account's
    join goes there (not to the room another A-label names) and can be written out."""
    h = Harness()
    actions = h.session(PHONE, x(f"<presence to='{room_text}/alice' id='j1'>{MUC_X}</presence>"))
    sent = [a.stanza for a in actions if isinstance(a, Send)]
    assert len(sent) == 1
    assert str(sent[0].to) == f"{room_text}/alice"
    assert f'to="{room_text}/alice"' in serialize(sent[0]).encode("utf-8").decode("utf-8")
