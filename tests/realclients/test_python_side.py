"""The module's Python side going away and coming back, with real devices in a room.

In ``direct`` mode there is no Python side: the same stories run with nothing stopped, and
must look the same to every client. Through the module, Prosody keeps the room's traffic
to the account while the Python side is down and hands it over when it is back
(hosts/prosody/README.md, "When the Python side is down"); a restarted Python side carries
on from its snapshot (``--state``).
"""

from __future__ import annotations

from interop.harness import body, codes, error_of, run, show

from .devices import clients, from_room, jids, messages, settle
from .scenes import full_room
from .stack import ELSEWHERE, Stack

ALICE = "alice@localhost"


def test_python_side_down_traffic_passes_and_nothing_is_lost(stack: Stack, room: str) -> None:
    """Room traffic while the Python side is down reaches both devices once it is back.

    dave (a host without the module) talks while it is down: his message is kept for the
    account and handed over later. bob is an account of the module's host like alice, so
    through the module his own groupchat cannot reach the room meanwhile: Prosody routes
    it from his device, which never joined by itself, and the room refuses it (§7.4
    not-acceptable). Directly, both pass.
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            dave = await c.connect(f"dave@{ELSEWHERE}", "desk")
            await dave.join(room, "dave")
            await r.settle()
            r.drain()

            if stack.module:
                stack.stop_python_side()
            dave.say(room, "are you there?", "d1")
            r.bob.say(room, "hello?", "d2")
            await settle(room, dave, r.bob, r.mod)
            early = {device: from_room(device.drain(), room) for device in (*r.everyone, dave)}
            [bob_d2] = [s for s in early[r.bob] if s.id == "d2"]
            if stack.module:
                assert error_of(bob_d2) == ("cancel", "not-acceptable"), show([bob_d2])
                stack.start_python_side()
            else:
                assert bob_d2.type == "groupchat", show([bob_d2])
            await settle(room, r.phone, r.laptop, r.mod, r.bob, dave)

            passed = [("d1", "are you there?")] + ([] if stack.module else [("d2", "hello?")])
            for device in (*r.everyone, dave):
                got = [*early[device], *from_room(device.drain(), room)]
                talk = sorted((s.id, body(s)) for s in messages(got) if s.type == "groupchat")
                assert talk == passed, f"{device}:\n{show(got)}"
                presences = [s for s in got if s.kind == "presence"]
                assert presences == [], f"{device} saw someone move:\n{show(presences)}"

            r.phone.say(room, "back", "a1")
            await settle(room, r.phone, r.mod, r.bob, r.laptop, dave)
            for device in (*r.everyone, dave):
                got = messages(from_room(device.drain(), room))
                assert [(s.id, body(s)) for s in got] == [("a1", "back")], show(got)

    run(scenario())


def test_python_side_restarted_mid_story_carries_on_from_its_snapshot(
    stack: Stack, room: str
) -> None:
    """SIGTERM (snapshot saved), start again: traffic, a late join and a leave go on as before."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            if stack.module:
                stack.stop_python_side()
                assert stack.state_file.exists(), stack.side_log_tail()
                stack.start_python_side()

            r.bob.say(room, "after the restart", "r1")
            await settle(room, r.bob, r.mod, r.phone, r.laptop)
            for device in r.everyone:
                got = messages(from_room(device.drain(), room))
                assert [(s.id, body(s)) for s in got] == [("r1", "after the restart")], show(got)

            tablet = await c.connect("alice", "tablet")
            got = from_room(await tablet.join(room, "alice"), room)
            [mine] = [s for s in got if s.kind == "presence" and 110 in codes(s)]
            expected = (
                [ALICE]
                if stack.module
                else [f"{ALICE}/laptop", f"{ALICE}/phone", f"{ALICE}/tablet"]
            )
            assert jids(mine) == expected, show(got)
            history = [(s.id, body(s)) for s in messages(got) if body(s) is not None]
            assert history == [("r1", "after the restart")], show(got)
            await settle(room, tablet, r.mod, r.bob, r.phone, r.laptop)
            seen = [s for s in from_room(r.mod.drain(), room) if s.kind == "presence"]
            assert len(seen) == (0 if stack.module else 1), show(seen)
            r.drain()

            r.laptop.say(room, "still one of us", "r2")
            await settle(room, r.laptop, r.mod, r.bob, r.phone, tablet)
            for device in (*r.everyone, tablet):
                got = messages(from_room(device.drain(), room))
                assert [(s.id, body(s)) for s in got] == [("r2", "still one of us")], show(got)

    run(scenario())
