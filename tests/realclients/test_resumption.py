"""Stream management: a device loses its connection and resumes its stream (XEP-0198 §5).

While the phone's session hibernates it is still a session: directly it stays an occupant;
through the module the router does not hear of it at all. Either way the room sees nothing,
and the resumed phone gets what was sent meanwhile, once.
"""

from __future__ import annotations

import asyncio

from interop.harness import body, run, show

from .devices import clients, from_room, messages, settle
from .scenes import full_room
from .stack import Stack

HIBERNATION = 30.0
"""``smacks_hibernation_time`` in this tier's prosody.cfg.lua: seconds a dropped stream waits."""


def test_a_resumed_device_gets_what_was_sent_meanwhile_once(stack: Stack, room: str) -> None:
    """The phone drops, bob talks, the phone resumes: bob's message reaches it once."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            r.phone.drop()
            r.bob.say(room, "while you were in a tunnel", "s1")
            await settle(room, r.bob, r.mod, r.laptop)
            await r.phone.resume(stack.lab.c2s_port)
            await r.settle()

            got = messages(from_room(r.phone.drain(), room))
            assert [(s.id, body(s)) for s in got] == [("s1", "while you were in a tunnel")], show(
                got
            )
            for device in (r.mod, r.bob, r.laptop):
                presences = [s for s in from_room(device.drain(), room) if s.kind == "presence"]
                assert presences == [], f"{device} saw the phone drop:\n{show(presences)}"

            r.phone.say(room, "out of the tunnel", "s2")
            await settle(room, r.phone, r.mod, r.bob, r.laptop)
            for device in r.everyone:
                got = messages(from_room(device.drain(), room))
                assert [(s.id, body(s)) for s in got] == [("s2", "out of the tunnel")], show(got)

    run(scenario())


def test_a_device_whose_stream_was_given_up_gets_what_it_missed_back(
    stack: Stack, room: str
) -> None:
    """XEP-0198 §5: the phone never resumes; bob's message to it is never acknowledged.

    mod_smacks gives up on the stream after its hibernation time. Through the module, the
    host hands the message's bounce to the router (never to the room), which notes that the
    phone missed it; directly, the room has the message in its history. Either way the
    phone, back on a new stream, gets it in its join's history: nothing lost while it slept.
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            r.phone.drop()
            r.bob.say(room, "while your stream was given up", "g1")
            await settle(room, r.bob, r.mod, r.laptop)
            await asyncio.sleep(HIBERNATION + 3.0)  # the stream is given up: no resumption
            phone = await c.connect("alice", "phone")
            got = messages(from_room(await phone.join(room, "alice"), room))
            history = [(s.id, body(s)) for s in got if body(s) is not None]
            assert history == [("g1", "while your stream was given up")], show(got)

    run(scenario())
