"""Presence aggregation, nick changes, private messages with carbons, IQs and self-ping.

Where the module and direct joins differ, the difference is one the Prosody page lists
(docs/prosody.rst, "Differences from a direct join"); the rest must be the same.
"""

from __future__ import annotations

from interop.harness import (
    DISCO_INFO,
    MUC,
    MUC_USER,
    codes,
    error_of,
    is_subject,
    items,
    run,
    show,
    until,
)
from minimix_core import Stanza

from .devices import CARBONS, clients, forwarded, from_room, jids, settle, text_of
from .scenes import full_room, owned_room
from .stack import ELSEWHERE, Stack

ALICE = "alice@localhost"
HINTS = "urn:xmpp:hints"
PING = "urn:xmpp:ping"


def _presences(stanzas: list[Stanza]) -> list[Stanza]:
    return [s for s in stanzas if s.kind == "presence"]


def test_presence_aggregation(stack: Stack, room: str) -> None:
    """§7.7: the room sees one presence for the account, the most available of its devices'.

    Directly, Prosody broadcasts a presence for every change of any session (and shows the
    first session's); through the module an update that leaves the aggregate as it was is
    not sent, and the aggregate ranks dnd above away.
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            r.phone.send(f"<presence to='{room}/alice'><show>away</show></presence>")
            await r.settle()
            seen = _presences(from_room(r.mod.drain(), room))
            assert [text_of(s, "show") for s in seen] == ([] if stack.module else ["away"])
            r.drain()

            r.laptop.send(f"<presence to='{room}/alice'><show>dnd</show></presence>")
            await r.settle()
            seen = _presences(from_room(r.mod.drain(), room))
            # Prosody 0.12 keeps showing its first session's presence for the occupant.
            assert [text_of(s, "show") for s in seen] == (["dnd"] if stack.module else ["away"])
            for device in (r.phone, r.laptop):
                [mine] = _presences(from_room(device.drain(), room))
                assert 110 in codes(mine), show([mine])

    run(scenario())


def test_nick_change_and_conflict(stack: Stack, room: str) -> None:
    """§7.6: a taken nick is refused to the asking device only (409 conflict); a free one
    renames the account for every device through the module (303 then the new nick),
    where directly only the asking session moves and the occupant splits in two."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            r.phone.send(f"<presence to='{room}/bob'/>")
            await r.settle()
            got = from_room(r.phone.drain(), room)
            assert [(str(s.from_), error_of(s)) for s in got] == [
                (f"{room}/bob", ("cancel", "conflict"))
            ], show(got)
            for device in (r.mod, r.bob, r.laptop):
                assert from_room(device.drain(), room) == [], f"{device} saw the attempt"

            r.phone.send(f"<presence to='{room}/alicia'/>")
            await r.settle()
            moved = [r.phone, r.laptop] if stack.module else [r.phone]
            for device in moved:
                got = _presences(from_room(device.drain(), room))
                gone, back = got[0], got[1]
                assert str(gone.from_) == f"{room}/alice" and gone.type == "unavailable"
                assert {303, 110} <= codes(gone), show(got)
                assert [i.get("nick") for i in items(gone)] == ["alicia"], show(got)
                assert str(back.from_) == f"{room}/alicia" and 110 in codes(back), show(got)
            seen = _presences(from_room(r.mod.drain(), room))
            if stack.module:
                assert [(str(s.from_), s.type) for s in seen] == [
                    (f"{room}/alice", "unavailable"),
                    (f"{room}/alicia", None),
                ], show(seen)
                assert 303 in codes(seen[0]) and jids(seen[1]) == [ALICE], show(seen)
            else:  # the laptop stays "alice": two occupants now
                assert sorted(str(s.from_) for s in seen) == [
                    f"{room}/alice",
                    f"{room}/alicia",
                ], show(seen)
                assert all(s.type is None for s in seen), show(seen)

    run(scenario())


def test_a_device_asking_another_nick(stack: Stack, room: str) -> None:
    """§7.2.3 with the default nick policy: a second device joining as "ally" is attached
    under the account's nick "alice", told so with 210, and the room sees nothing; directly
    the room gets a second occupant "ally" for the same user.
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            mod, bob = await owned_room(c, room)
            phone = await c.connect("alice", "phone")
            await phone.join(room, "alice")
            await settle(room, phone, mod, bob)
            for device in (mod, bob, phone):
                device.drain()

            laptop = await c.connect("alice", "laptop")
            laptop.send(f"<presence to='{room}/ally'><x xmlns='{MUC}'/></presence>")
            got = await until(laptop, is_subject, what="the subject that ends a join")
            [mine] = [s for s in from_room(got, room) if s.kind == "presence" and 110 in codes(s)]
            nick = "alice" if stack.module else "ally"
            assert str(mine.from_) == f"{room}/{nick}", show(got)
            assert (210 in codes(mine)) == stack.module, show([mine])
            await settle(room, laptop, phone, mod, bob)
            seen = _presences(from_room(mod.drain(), room))
            if stack.module:
                assert seen == [], show(seen)
                assert from_room(phone.drain(), room) == [], "the phone saw the late join"
            else:
                assert [(str(s.from_), s.type) for s in seen] == [(f"{room}/ally", None)], show(
                    seen
                )
                assert jids(seen[0]) == [f"{ALICE}/laptop"], show(seen)

    run(scenario())


def test_private_messages_with_carbons(stack: Stack, room: str) -> None:
    """§7.5 with XEP-0280: a PM reaches each device once; a device's PM reaches bob once.

    Through the module the forked PM carries ``no-copy`` and the other device gets a
    ``<sent/>`` carbon of the phone's PM; directly Prosody 0.12 carbons neither.
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            r.bob.send(
                f"<message to='{room}/alice' type='chat' id='pm1'><body>psst</body>"
                f"<x xmlns='{MUC_USER}'/></message>"
            )
            await settle(room, r.bob, r.phone, r.laptop)
            for device in (r.phone, r.laptop):
                got = device.drain()
                assert [(str(s.from_), s.id, text_of(s, "body")) for s in got] == [
                    (f"{room}/bob", "pm1", "psst")
                ], show(got)
                hinted = got[0].find(f"{{{HINTS}}}no-copy") is not None
                assert hinted == stack.module, show(got)

            r.phone.send(
                f"<message to='{room}/bob' type='chat' id='pm2'><body>hi bob</body>"
                f"<x xmlns='{MUC_USER}'/></message>"
            )
            await settle(room, r.phone, r.bob, r.laptop, r.mod)
            got = from_room(r.bob.drain(), room)
            assert [(str(s.from_), s.id, text_of(s, "body")) for s in got] == [
                (f"{room}/alice", "pm2", "hi bob")
            ], show(got)
            assert r.mod.drain() == [] and r.phone.drain() == []
            carbons = r.laptop.drain()
            if stack.module:
                [carbon] = carbons
                inner = forwarded(carbon, f"{{{CARBONS}}}sent")
                assert inner is not None and inner.get("id") == "pm2", show(carbons)
                assert inner.get("from") == f"{ALICE}/phone", show(carbons)
                assert inner.get("to") == f"{room}/bob", show(carbons)
            else:
                assert carbons == [], show(carbons)

    run(scenario())


def test_iq_from_a_device_and_self_ping(stack: Stack, room: str) -> None:
    """§7.5 for IQs, and XEP-0410 self-ping: the same in both modes.

    dave (a host without the module) answers a device's disco#info; the device gets it
    with its own id (through the module the room saw the router's). Each device's
    self-ping is answered (by the room directly, by the router through the module).
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            dave = await c.connect(f"dave@{ELSEWHERE}", "desk")
            await dave.join(room, "dave")

            answer = await r.laptop.ask(
                f"<iq type='get' to='{room}/dave'><query xmlns='{DISCO_INFO}'/></iq>"
            )
            assert answer.type == "result" and str(answer.from_) == f"{room}/dave"
            assert answer.to == r.laptop.jid, show([answer])

            for device in (r.phone, r.laptop):
                pong = await device.ask(
                    f"<iq type='get' to='{room}/alice'><ping xmlns='{PING}'/></iq>"
                )
                assert pong.type == "result" and str(pong.from_) == f"{room}/alice", show([pong])
            await settle(room, r.phone, r.laptop, r.mod, r.bob, dave)
            for device in (*r.everyone, dave):
                got = _presences(from_room(device.drain(), room))
                alice = [s for s in got if s.from_ is not None and s.from_.resource == "alice"]
                assert alice == [], f"{device}:\n{show(alice)}"

    run(scenario())


def test_iq_from_an_occupant_to_the_account(stack: Stack, room: str) -> None:
    """§7.5 the other way: dave's disco#info to room/alice gets exactly one answer.

    Directly one of alice's clients answers it; through the module it reaches the
    account's bare JID and the server answers for the account (RFC 6121 §8.5.2.1.3):
    Prosody tells only the account's contacts about it, so dave gets
    service-unavailable (a documented difference).
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            await full_room(c, room)
            dave = await c.connect(f"dave@{ELSEWHERE}", "desk")
            await dave.join(room, "dave")
            answer = await dave.ask(
                f"<iq type='get' to='{room}/alice'><query xmlns='{DISCO_INFO}'/></iq>"
            )
            assert str(answer.from_) == f"{room}/alice", show([answer])
            if stack.module:
                assert error_of(answer) == ("cancel", "service-unavailable"), show([answer])
                return
            assert answer.type == "result", show([answer])
            query = answer.find(f"{{{DISCO_INFO}}}query")
            identity = None if query is None else query.find(f"{{{DISCO_INFO}}}identity")
            assert identity is not None, show([answer])
            assert identity.get("category") == "client", show([answer])

    run(scenario())
