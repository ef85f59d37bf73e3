"""A room that admits the account after the router stopped waiting (XEP-0045 §7.14).

The router leaves such a room at once (``_room_side._not_in``); what the room still sends
of that admission must not reach a session that joins meanwhile.
"""

from __future__ import annotations

from helpers import (
    ALICE,
    PHONE,
    ROOM,
    Harness,
    join,
    left,
    occupant,
    self_presence,
    subject,
)
from minimix_core import Deliver, Discard, DiscardReason, Send, Stanza


def test_the_left_admissions_subject_does_not_reach_a_session_joining_meanwhile() -> None:
    """§7.2.15: a session gets its room's subject once, after its own self-presence."""
    h = Harness()
    late = self_presence(pid="forgotten")
    leave = Stanza(
        "presence", type="unavailable", from_=ALICE, to=ROOM.with_resource("alice"), id="mmx-1"
    )
    assert h.room(late) == [Send(stanza=leave), Discard(stanza=late, reason=DiscardReason.STALE)]
    [sent] = h.session(PHONE, join())
    assert isinstance(sent, Send)
    # The rest of the admission the router left: its subject, then the leave's answer.
    old_subject = subject("Old")
    assert h.room(old_subject) == [Discard(stanza=old_subject, reason=DiscardReason.STALE)]
    answer = left(jid="mmx-1")
    assert h.room(answer) == [Discard(stanza=answer, reason=DiscardReason.STALE)]
    # The phone's join: occupants, its self-presence, the subject, once each.
    bob = occupant("bob")
    assert h.room(bob) == [Deliver(session=PHONE, stanza=bob.with_to(PHONE))]
    mine = self_presence(pid="j1")
    assert h.room(mine) == [Deliver(session=PHONE, stanza=mine.with_to(PHONE))]
    new_subject = subject("Old")
    assert h.room(new_subject) == [Deliver(session=PHONE, stanza=new_subject.with_to(PHONE))]
