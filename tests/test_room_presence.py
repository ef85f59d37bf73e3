"""The room's own presence (ejabberd sends one from the room's bare JID, with its caps)."""

from __future__ import annotations

from helpers import LAPTOP, PHONE, Harness, join, occupant, self_presence, subject, x
from minimix_core import Deliver, Discard, DiscardReason

ROOM_PRESENCE = """
<presence from='lounge@muc.example.net' to='alice@example.org' id='srv1'>
  <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://www.process-one.net/en/ejabberd/' ver='94Y7'/>
</presence>
"""


def joined_with_room_presence(h: Harness) -> None:
    h.session(PHONE, join())
    h.room(x(ROOM_PRESENCE))
    h.room(occupant("bob"))
    h.room(self_presence())
    h.room(subject())


def test_a_late_joiner_gets_the_rooms_own_presence_first() -> None:
    """XEP-0045 §7.1 as ejabberd plays it: the room's presence, occupants, self, subject."""
    h = Harness()
    joined_with_room_presence(h)
    assert h.session(LAPTOP, join(jid="j2")) == [
        Deliver(session=LAPTOP, stanza=x(ROOM_PRESENCE).with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=occupant("bob", to=LAPTOP)),
        Deliver(session=LAPTOP, stanza=self_presence(pid="j2").with_to(LAPTOP)),
        Deliver(session=LAPTOP, stanza=subject().with_to(LAPTOP)),
    ]


def test_a_session_leaving_alone_gets_the_rooms_unavailable_first() -> None:
    """ejabberd sends a leaver the room's own unavailable before its self-presence."""
    h = Harness()
    joined_with_room_presence(h)
    h.session(LAPTOP, join(jid="j2"))
    actions = h.session(
        LAPTOP, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>")
    )
    assert actions[0] == Deliver(
        session=LAPTOP,
        stanza=x(
            "<presence type='unavailable' from='lounge@muc.example.net' to='alice@example.org/laptop'/>"
        ),
    )
    assert len(actions) == 2


def test_the_rooms_unavailable_forgets_its_presence() -> None:
    """Forwarded, and a later joiner no longer gets the old room presence."""
    h = Harness()
    joined_with_room_presence(h)
    gone = x("<presence type='unavailable' from='lounge@muc.example.net' to='alice@example.org'/>")
    assert h.room(gone) == [Deliver(session=PHONE, stanza=gone.with_to(PHONE))]
    first = h.session(LAPTOP, join(jid="j2"))[0]
    assert first == Deliver(session=LAPTOP, stanza=occupant("bob", to=LAPTOP))


def test_a_rejoin_does_not_show_the_rooms_presence_again_unless_it_changed() -> None:
    """XEP-0410 rejoin on ejabberd: the room re-sends its presence; the sessions had it."""
    h = Harness()
    joined_with_room_presence(h)
    h.timer(900.0)
    ping_answer = x(
        "<iq type='error' from='lounge@muc.example.net/alice' to='alice@example.org' id='mmx-1'>"
        "<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    h.room(ping_answer)
    again = x(ROOM_PRESENCE).replace(id="srv2")
    assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.RESYNC)]
    changed = x(ROOM_PRESENCE.replace("94Y7", "NEW1"))
    assert h.room(changed) == [Deliver(session=PHONE, stanza=changed.with_to(PHONE))]
