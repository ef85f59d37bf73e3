"""Joining, talking and leaving with two real devices, directly and through the module.

Each scenario runs in both modes (see ``stack.py``); where the two differ, the difference
is one of those the Prosody page lists (docs/prosody.rst, "Differences from a direct join"),
and the branch on ``stack.module`` says which.
"""

from __future__ import annotations

from interop.harness import body, codes, is_subject, run, show, subject, until, with_id
from minimix_core import Stanza

from .devices import clients, from_room, jids, settle
from .scenes import SUBJECT, full_room, owned_room
from .stack import Stack

ALICE = "alice@localhost"


def _join_answer(got: list[Stanza], room: str, device: str, real_jids: list[str]) -> None:
    """XEP-0045 §7.2.2-§7.2.15 in order: others, self-presence (110) last, then the subject."""
    answer = from_room(got, room)
    presences = [s for s in answer if s.kind == "presence"]
    # Prosody lists the others in its table's order; only the self-presence's place is fixed.
    others = sorted(str(p.from_) for p in presences[:-1])
    assert others == [f"{room}/bob", f"{room}/mod"], show(answer)
    assert str(presences[-1].from_) == f"{room}/alice", show(answer)
    mine = presences[-1]
    assert mine.type is None and 110 in codes(mine), show(answer)
    assert jids(mine) == real_jids, show(answer)
    assert answer.index(mine) == len(answer) - 2, show(answer)  # only the subject follows
    assert is_subject(answer[-1]) and subject(answer[-1]) == SUBJECT, show(answer)
    assert all(str(s.to) == device for s in answer), show(answer)


def test_first_and_late_join(stack: Stack, room: str) -> None:
    """§7.2: both devices get the room in order; the room sees the account join once.

    Differences: the real JID is the account's bare JID, and the late join is not shown to
    the room (a direct second device makes Prosody broadcast a two-item presence).
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            mod, bob = await owned_room(c, room)
            phone = await c.connect("alice", "phone")
            got = await phone.join(room, "alice")
            phone_jid = ALICE if stack.module else f"{ALICE}/phone"
            _join_answer(got, room, f"{ALICE}/phone", [phone_jid])
            await settle(room, phone, mod, bob)
            [seen] = from_room(mod.drain(), room)
            assert str(seen.from_) == f"{room}/alice" and seen.type is None, show([seen])
            assert jids(seen) == [phone_jid], show([seen])
            [bob_saw] = from_room(bob.drain(), room)  # not a moderator: no real JIDs
            assert str(bob_saw.from_) == f"{room}/alice" and jids(bob_saw) == [""]

            laptop = await c.connect("alice", "laptop")
            got = await laptop.join(room, "alice")
            both = [ALICE] if stack.module else [f"{ALICE}/laptop", f"{ALICE}/phone"]
            _join_answer(got, room, f"{ALICE}/laptop", both)
            await settle(room, laptop, phone, mod, bob)
            if stack.module:
                for device in (mod, bob, phone):
                    assert from_room(device.drain(), room) == [], f"{device} saw the late join"
            else:
                [again] = from_room(mod.drain(), room)
                assert jids(again) == both, show([again])
                assert [jids(p) for p in from_room(bob.drain(), room)] == [[""]]
                [self_again] = from_room(phone.drain(), room)
                assert 110 in codes(self_again) and jids(self_again) == both
            assert from_room(laptop.drain(), room) == []

    run(scenario())


def test_groupchat_both_ways_one_copy_per_device(stack: Stack, room: str) -> None:
    """§7.4 and §7.2.17 (reflection): the same in both modes, one copy per device."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            r.bob.say(room, "hi alice", "b1")
            r.phone.say(room, "hi bob", "a1")
            await settle(room, r.bob, r.phone, r.mod, r.laptop)

            for device in r.everyone:
                got = from_room(device.drain(), room)
                # Two senders, two connections: their order is the server's to choose.
                assert sorted((str(s.from_), s.id, body(s)) for s in got) == [
                    (f"{room}/alice", "a1", "hi bob"),
                    (f"{room}/bob", "b1", "hi alice"),
                ], show(got)
                assert all(s.type == "groupchat" and s.to == device.jid for s in got), show(got)

    run(scenario())


def test_one_device_leaves_then_the_last(stack: Stack, room: str) -> None:
    """§7.14: the leaving device gets its own unavailable; the room sees alice leave once.

    Difference: while the laptop stays, the phone's leave is invisible to the room (a
    direct join shows a presence update with one item fewer).
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            got = from_room(await r.phone.leave(room, "alice"), room)
            assert [(s.type, s.to) for s in got] == [("unavailable", r.phone.jid)], show(got)
            await r.settle()
            if stack.module:
                for device in (r.mod, r.bob, r.laptop):
                    assert from_room(device.drain(), room) == [], f"{device} saw the phone leave"
            else:
                # Prosody 0.12 re-broadcasts the occupant, still listing the leaving session.
                both = [f"{ALICE}/laptop", f"{ALICE}/phone"]
                [update] = from_room(r.mod.drain(), room)
                assert update.type is None and jids(update) == both, show([update])
                assert len(from_room(r.bob.drain(), room)) == 1
                [mine] = from_room(r.laptop.drain(), room)
                assert 110 in codes(mine) and jids(mine) == both, show([mine])

            r.bob.say(room, "still there?", "b2")
            await until(r.laptop, with_id("b2"), what="bob's message")
            await r.settle()
            assert from_room(r.phone.drain(), room) == [], "a device that left got room traffic"
            r.drain()

            got = from_room(await r.laptop.leave(room, "alice", status="bye"), room)
            [mine] = got
            assert mine.find("status") is not None and mine.find("status").text == "bye"  # type: ignore[union-attr]
            await settle(room, r.laptop, r.mod, r.bob)
            real = ALICE if stack.module else f"{ALICE}/laptop"
            for device, seen_jids in ((r.mod, [real]), (r.bob, [""])):
                [gone] = from_room(device.drain(), room)
                assert str(gone.from_) == f"{room}/alice" and gone.type == "unavailable"
                assert 110 not in codes(gone) and gone.find("status").text == "bye"  # type: ignore[union-attr]
                assert jids(gone) == seen_jids, show([gone])  # only the owner sees real JIDs

    run(scenario())


def test_others_leave_and_every_device_sees_it(stack: Stack, room: str) -> None:
    """§7.14 seen from the other side: bob's leave reaches both devices once each."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            r.bob.send(f"<presence to='{room}/bob' type='unavailable'/>")
            await settle(room, r.bob, r.mod, r.phone, r.laptop)
            for device in (r.phone, r.laptop):
                got = from_room(device.drain(), room)
                assert [(str(s.from_), s.type) for s in got] == [(f"{room}/bob", "unavailable")], (
                    show(got)
                )

    run(scenario())
