"""``tests/interop/test_removal.py`` against ejabberd.

Imported scenarios run unchanged. A kick and a destruction are rewritten: ejabberd sends
every removed occupant the room's own unavailable presence before its unavailable
self-presence (see ``ejabberd_muc``); the router forwards both to every session, as a
session in the room directly would get them. The device that comes back within the
grace waits for the missed message to reach the component before it rejoins (a race of
the Prosody scenario that ejabberd's delivery order exposes).
"""

from __future__ import annotations

import asyncio

from examples.component import Session

from minimix_core import JID, Config, Stanza

from ..harness import (
    MUC_USER,
    World,
    codes,
    is_subject,
    join,
    presences_from,
    room_with_two_sessions,
    run,
    show,
    until,
    with_id,
    world,
)
from ..lab import Lab
from ..test_removal import (
    GRACE,
    test_broadcast_unavailable_makes_the_account_leave,
    test_connection_loss_ends_every_session,
    test_orderly_shutdown_leaves_every_room,
    test_session_closed_makes_the_account_leave,
)
from .ejabberd_muc import is_room_unavailable

__all__ = [
    "test_broadcast_unavailable_makes_the_account_leave",
    "test_connection_loss_ends_every_session",
    "test_device_back_within_the_grace_finds_the_account_there",
    "test_kick_by_a_real_moderator_reaches_both_sessions",
    "test_orderly_shutdown_leaves_every_room",
    "test_room_destruction_reaches_both_sessions",
    "test_session_closed_makes_the_account_leave",
]


def _alice(room: str) -> JID:
    return JID.parse(f"{room}/alice")


async def _removed(sessions: tuple[Session, ...], room: str) -> list[Stanza]:
    """Each session's removal: the room's unavailable, then room/alice's with 110."""
    removals = []
    for session in sessions:
        got = await until(session, lambda s: s.from_ == _alice(room), what="its removal")
        assert len(got) == 2 and is_room_unavailable(got[0], room), show(got)
        assert got[0].to == session.jid, show(got)
        removal = got[1]
        assert removal.type == "unavailable" and removal.to == session.jid, show(got)
        assert 110 in codes(removal), f"{session}'s removal lacks 110:\n{show(got)}"
        removals.append(removal)
    return removals


async def _bob_sees_alice_leave(w: World, room: str) -> Stanza:
    seen = await until(w.bob, lambda s: s.from_ == _alice(room), what="alice leaving")
    assert seen[-1].type == "unavailable", show(seen)
    return seen[-1]


def test_kick_by_a_real_moderator_reaches_both_sessions(lab: Lab, room: str) -> None:
    """§8.2: as on Prosody; each session also gets the room's unavailable first."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            await w.bob.kick(room, "alice", "kick test")
            for removal in await _removed((phone, laptop), room):
                assert 307 in codes(removal), show([removal])
                x = removal.find(f"{{{MUC_USER}}}x")
                item = None if x is None else x.find(f"{{{MUC_USER}}}item")
                assert item is not None and item.get("role") == "none", show([removal])
                actor = item.find(f"{{{MUC_USER}}}actor")
                reason = item.find(f"{{{MUC_USER}}}reason")
                assert actor is not None and actor.get("nick") == "bob", show([removal])
                assert reason is not None and reason.text == "kick test", show([removal])
            seen = await _bob_sees_alice_leave(w, room)
            assert 307 in codes(seen), show([seen])

            await w.sync()
            assert phone.drain() == [] and laptop.drain() == []
            await phone.send(
                f"<message to='{room}' type='groupchat' id='k1'><body>x</body></message>"
            )
            got = await until(phone, with_id("k1"))
            assert got[-1].type == "error", show(got)
            await join(laptop, room)
            await until(laptop, lambda s: 110 in codes(s), what="its self-presence")
            await until(w.bob, lambda s: s.from_ == _alice(room), what="alice back")

    run(scenario())


def test_room_destruction_reaches_both_sessions(lab: Lab, room: str) -> None:
    """§10.9: as on Prosody; every occupant, bob too, also gets the room's unavailable first."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            venue = f"elsewhere-{room}"
            await w.bob.destroy(room, "moving", venue)
            for removal in await _removed((phone, laptop), room):
                x = removal.find(f"{{{MUC_USER}}}x")
                destroy = None if x is None else x.find(f"{{{MUC_USER}}}destroy")
                assert destroy is not None and destroy.get("jid") == venue, show([removal])
                reason = destroy.find(f"{{{MUC_USER}}}reason")
                assert reason is not None and reason.text == "moving", show([removal])
            # bob sees nobody else leave either: the room's unavailable, then his own.
            seen = await until(w.bob, lambda s: s.from_ == JID.parse(f"{room}/bob"))
            unavailable = [s for s in seen if s.type == "unavailable"]
            assert len(unavailable) == 2 and is_room_unavailable(unavailable[0], room), show(seen)

            await w.sync()
            assert phone.drain() == [] and laptop.drain() == []
            await join(phone, room)
            got = await until(phone, lambda s: 110 in codes(s), what="its self-presence")
            assert 201 in codes(got[-1]), show(got)

    run(scenario())


def test_device_back_within_the_grace_finds_the_account_there(lab: Lab, room: str) -> None:
    """As on Prosody, once the missed message has reached the router (``w.sync()``).

    The Prosody scenario rejoins as soon as bob has his copy of the message. ejabberd
    often delivers bob's copy first; the rejoin, answered at once from the router's
    state, then overtakes alice's copy, which reaches the device live after the subject
    instead of as history (nothing is lost).
    """

    async def scenario() -> None:
        async with world(lab, "bob", config=Config(disconnect_grace=GRACE)) as w:
            _, laptop = await room_with_two_sessions(w, room)
            w.host.close_session(JID.parse(f"alice@{lab.component}/phone"))
            laptop.close()
            w.bob.send(
                f"<message to='{room}' type='groupchat' id='m1'><body>missed</body></message>"
            )
            await until(w.bob, with_id("m1"))
            await w.sync()

            laptop = w.session("laptop")
            await join(laptop, room)
            got = await until(laptop, is_subject, what="the end of its join")
            history = [s.id for s in got if s.kind == "message" and s.find("body") is not None]
            assert history and history[-1] == "m1", show(got)
            await asyncio.sleep(GRACE + 0.5)  # past the grace: the account must still be in
            await w.sync()
            assert presences_from(w.bob.drain(), str(_alice(room))) == []
            w.bob.send(
                f"<message to='{room}' type='groupchat' id='m2'><body>back?</body></message>"
            )
            await until(laptop, with_id("m2"))

    run(scenario())
