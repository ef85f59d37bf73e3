"""Kick, ban, destruction and a removed bookmark, with alice on two real devices.

A removal from the room reaches every device once, in both modes (Prosody removes a
direct multi-session occupant with all its sessions too); the room sees the account go
once. A retracted autojoin bookmark (XEP-0402 §4) makes the account leave everywhere
through the module; a direct client's server does nothing with it.
"""

from __future__ import annotations

from interop.harness import MUC, MUC_USER, codes, run, show

from .devices import Device, clients, from_room, jids, settle
from .scenes import Room, full_room
from .stack import Stack

ALICE = "alice@localhost"


def _removed(device: Device, room: str, code: int | None) -> None:
    """``device`` got exactly one stanza from the room: its own unavailable, with ``code``."""
    got = from_room(device.drain(), room)
    assert [(str(s.from_), s.type) for s in got] == [(f"{room}/alice", "unavailable")], show(got)
    assert 110 in codes(got[0]), show(got)
    if code is not None:
        assert code in codes(got[0]), show(got)


def _room_saw_alice_go(r: Room, code: int, stack: Stack) -> None:
    """mod (the owner: real JIDs) and bob each saw alice's removal once, with ``code``."""
    real = [ALICE] if stack.module else [f"{ALICE}/laptop", f"{ALICE}/phone"]
    for device, seen_jids in ((r.mod, real), (r.bob, [""])):
        got = [s for s in from_room(device.drain(), r.jid) if s.kind == "presence"]
        assert [(str(s.from_), s.type) for s in got] == [(f"{r.jid}/alice", "unavailable")], show(
            got
        )
        assert code in codes(got[0]) and 110 not in codes(got[0]), show(got)
        assert jids(got[0]) == seen_jids, show(got)


def test_kick_reaches_every_device(stack: Stack, room: str) -> None:
    """§8.2: mod kicks alice; phone and laptop each get their 307 with 110."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            await r.mod.kick(room, "alice", "enough")
            await r.settle()
            for device in (r.phone, r.laptop):
                _removed(device, room, 307)
            _room_saw_alice_go(r, 307, stack)

    run(scenario())


def test_ban_reaches_every_device(stack: Stack, room: str) -> None:
    """§9.1: mod bans alice@localhost; both devices get 301 with 110; she cannot return."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            await r.mod.set_affiliation(room, ALICE, "outcast")
            await r.settle()
            for device in (r.phone, r.laptop):
                _removed(device, room, 301)
            _room_saw_alice_go(r, 301, stack)

            r.phone.send(f"<presence to='{room}/alice'><x xmlns='{MUC}'/></presence>")
            await r.settle()
            got = from_room(r.phone.drain(), room)
            assert [s.type for s in got] == ["error"], show(got)
            assert from_room(r.mod.drain(), room) == []

    run(scenario())


def test_destruction_reaches_every_device(stack: Stack, room: str) -> None:
    """§10.9: mod destroys the room; each device gets one unavailable with <destroy/>."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            await r.mod.destroy(room, "closing time")
            await settle(stack.lab.muc, r.phone, r.laptop)  # the room is gone: ask the service
            for device in (r.phone, r.laptop):
                got = from_room(device.drain(), room)
                assert [(str(s.from_), s.type) for s in got] == [
                    (f"{room}/alice", "unavailable")
                ], show(got)
                x = got[0].find(f"{{{MUC_USER}}}x")
                assert x is not None and x.find(f"{{{MUC_USER}}}destroy") is not None, show(got)

    run(scenario())


def test_retracted_bookmark_leaves_everywhere(stack: Stack, room: str) -> None:
    """XEP-0402 §4: through the module the account leaves once and both devices are told."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            await r.phone.bookmark(room, "alice", autojoin=True)
            await r.settle()
            r.drain()
            await r.laptop.unbookmark(room)
            await r.settle()
            if stack.module:
                for device in (r.phone, r.laptop):
                    _removed(device, room, None)
                for device in (r.mod, r.bob):
                    got = [s for s in from_room(device.drain(), room) if s.kind == "presence"]
                    assert [(str(s.from_), s.type) for s in got] == [
                        (f"{room}/alice", "unavailable")
                    ], show(got)
            else:
                for device in r.everyone:
                    assert from_room(device.drain(), room) == [], f"{device} saw a change"

    run(scenario())
