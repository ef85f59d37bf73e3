"""The account removed by the room: kick, ban, destruction (XEP-0045 §8.2, §9.1, §10.9)."""

from __future__ import annotations

import pytest

from helpers import LAPTOP, PHONE, Harness, groupchat, join, x
from minimix_core import Continue, Deliver

KICK = """
<presence type='unavailable' to='alice@example.org' from='lounge@muc.example.net/alice'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='none' role='none'><actor nick='bob'/><reason>flooding</reason></item>
    <status code='307'/>
    <status code='110'/>
  </x>
</presence>
"""
# XEP-0045 §9.1 example 117: the banned user's copy has no 110.
BAN = """
<presence type='unavailable' to='alice@example.org' from='lounge@muc.example.net/alice'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='outcast' role='none'><actor nick='bob'/></item>
    <status code='301'/>
  </x>
</presence>
"""
DESTROY = """
<presence type='unavailable' to='alice@example.org' from='lounge@muc.example.net/alice'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='none' role='none'/>
    <destroy jid='new@muc.example.net'><reason>moved</reason></destroy>
  </x>
</presence>
"""
BAN_WITH_110 = BAN.replace("<status code='301'/>", "<status code='301'/><status code='110'/>")
DESTROY_WITH_110 = DESTROY.replace("</destroy>", "</destroy><status code='110'/>")


def test_kick_reaches_every_session_and_the_occupancy_is_gone() -> None:
    """XEP-0045 §8.2: actor and reason kept; afterwards the room is not ours."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    kick = x(KICK)
    assert h.room(kick) == [
        Deliver(session=PHONE, stanza=kick.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=kick.with_to(LAPTOP)),
    ]
    assert h.router._core.table.accounts == {}
    message = groupchat("after")
    assert h.room(message) == [Continue(stanza=message)]


def test_ban_without_110_is_recognised_by_the_occupant_jid_and_110_added() -> None:
    """XEP-0045 §9.1: the example to the banned user lacks 110; sessions get it added."""
    h = Harness()
    h.joined(PHONE)
    assert h.room(x(BAN)) == [Deliver(session=PHONE, stanza=x(BAN_WITH_110).with_to(PHONE))]
    assert h.router._core.table.accounts == {}


def test_destroy_without_status_code_keeps_the_alternate_venue() -> None:
    """XEP-0045 §10.9: <destroy/> with reason and alternate venue, 110 added."""
    h = Harness()
    h.joined(PHONE)
    assert h.room(x(DESTROY)) == [Deliver(session=PHONE, stanza=x(DESTROY_WITH_110).with_to(PHONE))]


def test_removal_during_the_join_reaches_the_pending_sessions() -> None:
    """A kick right after the join still reaches the sessions waiting for it."""
    h = Harness()
    h.session(PHONE, join())
    kick = x(KICK)
    assert h.room(kick) == [Deliver(session=PHONE, stanza=kick.with_to(PHONE))]
    assert h.router._core.table.accounts == {}


@pytest.mark.parametrize("code", ["301", "307", "321", "322"])
def test_removals_that_are_the_accounts_fault_never_rejoin(code: str) -> None:
    """XEP-0045 §8.2, §9.1, §9.4, §10.2: ban, kick, affiliation, members-only: no auto-rejoin."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    removal = x(KICK.replace("307", code))
    assert h.room(removal) == [
        Deliver(session=PHONE, stanza=removal.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=removal.with_to(LAPTOP)),
    ]
    assert h.router._core.table.accounts == {}
    assert h.router.next_deadline() is None
