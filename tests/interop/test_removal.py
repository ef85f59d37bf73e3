"""The account out of a real room: kick, destruction, sessions going away, the host stopping."""

from __future__ import annotations

import asyncio

import pytest
from examples.component import Session, SessionEnded

from minimix_core import JID, Config, Stanza

from .harness import (
    MUC_USER,
    World,
    codes,
    is_subject,
    items,
    join,
    presences_from,
    room_with_two_sessions,
    run,
    show,
    until,
    with_id,
    world,
)
from .lab import Lab


def _alice(room: str) -> JID:
    return JID.parse(f"{room}/alice")


async def _removed(sessions: tuple[Session, ...], room: str) -> list[Stanza]:
    """Each session's removal (one unavailable from room/alice, with 110), in order."""
    removals = []
    for session in sessions:
        got = await until(session, lambda s: s.type == "unavailable", what="its removal")
        assert len(got) == 1, f"{session} got more than its removal:\n{show(got)}"
        removal = got[0]
        assert removal.from_ == _alice(room) and removal.to == session.jid, show(got)
        assert 110 in codes(removal), f"{session}'s removal lacks 110:\n{show(got)}"
        removals.append(removal)
    return removals


async def _bob_sees_alice_leave(w: World, room: str) -> Stanza:
    seen = await until(w.bob, lambda s: s.from_ == _alice(room), what="alice leaving")
    assert seen[-1].type == "unavailable", show(seen)
    return seen[-1]


async def _bob_sees_no_change(w: World, room: str) -> None:
    await w.sync()
    seen = w.bob.drain()
    assert presences_from(seen, str(_alice(room))) == [], show(seen)


def test_kick_by_a_real_moderator_reaches_both_sessions(lab: Lab, room: str) -> None:
    """§8.2: 307 with actor and reason, plus 110, to every session; then the account is out."""

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
            # Out of the room: a groupchat is refused as the room would (not-acceptable).
            await phone.send(
                f"<message to='{room}' type='groupchat' id='k1'><body>x</body></message>"
            )
            got = await until(phone, with_id("k1"))
            assert got[-1].type == "error", show(got)
            # And a new join is the account's join again.
            await join(laptop, room)
            await until(laptop, lambda s: 110 in codes(s), what="its self-presence")
            await until(w.bob, lambda s: s.from_ == _alice(room), what="alice back")

    run(scenario())


def test_room_destruction_reaches_both_sessions(lab: Lab, room: str) -> None:
    """§10.9: each session gets the unavailable with <destroy/> (reason, venue) and 110."""

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
            # bob gets only his own unavailable (Prosody: nobody sees others leave).
            seen = await until(w.bob, lambda s: s.type == "unavailable")
            assert seen[-1].from_ == JID.parse(f"{room}/bob"), show(seen)

            await w.sync()
            assert phone.drain() == [] and laptop.drain() == []
            # The router forgot the room: a join goes out again and re-creates it (201).
            await join(phone, room)
            got = await until(phone, lambda s: 110 in codes(s), what="its self-presence")
            assert 201 in codes(got[-1]), show(got)

    run(scenario())


GRACE = 1.0
"""Config.disconnect_grace of the disconnection scenarios: short, yet far above a sync."""


def test_broadcast_unavailable_makes_the_account_leave(lab: Lab, room: str) -> None:
    """RFC 6121 §4.5.2: sessions going offline leave; after the last, alice leaves (grace)."""

    async def scenario() -> None:
        async with world(lab, "bob", config=Config(disconnect_grace=GRACE)) as w:
            phone, laptop = await room_with_two_sessions(w, room)
            await phone.send("<presence type='unavailable'/>")
            await _bob_sees_no_change(w, room)
            assert phone.drain() == [] and laptop.drain() == []

            w.bob.send(f"<message to='{room}' type='groupchat' id='u1'><body>hi</body></message>")
            await until(laptop, with_id("u1"))
            await w.sync()
            assert phone.drain() == [], "an offline session still gets the room's traffic"

            await laptop.send("<presence type='unavailable'/>")
            await _bob_sees_no_change(w, room)  # the grace period: the account stays a while
            seen = await _bob_sees_alice_leave(w, room)  # then the host's timer makes it leave
            assert items(seen) and items(seen)[0].get("role") == "none", show([seen])
            await w.sync()
            assert phone.drain() == [] and laptop.drain() == []

    run(scenario())


def test_session_closed_makes_the_account_leave(lab: Lab, room: str) -> None:
    """SessionClosed: the first closing is invisible to the room; after the last, alice leaves."""

    async def scenario() -> None:
        async with world(lab, "bob", config=Config(disconnect_grace=GRACE)) as w:
            phone, laptop = await room_with_two_sessions(w, room)
            w.host.close_session(phone.jid)
            await _bob_sees_no_change(w, room)
            with pytest.raises(SessionEnded):
                await phone.receive(1.0)
            laptop.close()
            await _bob_sees_no_change(w, room)
            await _bob_sees_alice_leave(w, room)

    run(scenario())


def test_device_back_within_the_grace_finds_the_account_there(lab: Lab, room: str) -> None:
    """A device that reconnects in time rejoins from state and gets what it missed."""

    async def scenario() -> None:
        async with world(lab, "bob", config=Config(disconnect_grace=GRACE)) as w:
            _, laptop = await room_with_two_sessions(w, room)
            w.host.close_session(JID.parse(f"alice@{lab.component}/phone"))
            laptop.close()
            w.bob.send(
                f"<message to='{room}' type='groupchat' id='m1'><body>missed</body></message>"
            )
            await until(w.bob, with_id("m1"))
            await w.sync()  # the account's copy too, before the device comes back

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


def test_orderly_shutdown_leaves_every_room(lab: Lab, room: str) -> None:
    """ComponentHost.close(): the account leaves before the stream closes (no ghost, note 12)."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, _ = await room_with_two_sessions(w, room)
            await w.host.close()
            assert not w.host.connected
            await _bob_sees_alice_leave(w, room)
            with pytest.raises(SessionEnded):
                await phone.receive(1.0)

    run(scenario())


def test_connection_loss_ends_every_session(lab: Lab, room: str) -> None:
    """The server connection drops: sessions end instead of waiting forever."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            writer = w.host._writer
            assert writer is not None
            writer.transport.abort()
            await asyncio.wait_for(w.host.wait_closed(), 5.0)
            for session in (phone, laptop):
                with pytest.raises(SessionEnded):
                    await session.receive(1.0)
            with pytest.raises(SessionEnded):
                await phone.send(f"<message to='{room}' type='groupchat'><body>x</body></message>")

    run(scenario())
