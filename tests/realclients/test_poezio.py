"""An end-user client as the device: poezio in tmux joins, sees others, talks, leaves.

carol@localhost runs poezio; through the module she is an account like alice, so her
terminal client is a device of it. What bob sees of her is the same in both modes but for
the real JID the owner sees (the bare JID through the module).
"""

from __future__ import annotations

from interop.harness import body, codes, run, show, until

from .devices import Device, clients, jids
from .scenes import owned_room
from .stack import Stack
from .terminal import Poezio, TerminalError, poezio

CAROL = "carol@localhost"


async def _story(term: Poezio, mod: Device, bob: Device, room: str, stack: Stack) -> None:
    await term.shows("Your JID is", timeout=30)
    await term.keys(f"/join {room}/carol")
    seen = await until(
        mod,
        lambda s: str(s.from_) == f"{room}/carol" and s.kind == "presence",
        what="carol's join",
    )
    [joined] = [s for s in seen if str(s.from_) == f"{room}/carol"]
    [real] = jids(joined)  # mod owns the room: he sees real JIDs
    if stack.module:
        assert real == CAROL, show([joined])
    else:
        assert real.startswith(f"{CAROL}/"), show([joined])
    await term.shows("bob")  # the occupant list of the room tab

    bob.say(room, "hello carol", "p1")
    await term.shows("hello carol")

    await term.keys("hi from poezio")
    got = await until(
        bob, lambda s: s.kind == "message" and body(s) == "hi from poezio", what="her message"
    )
    assert str(got[-1].from_) == f"{room}/carol", show(got)

    await term.keys("/part")
    got = await until(
        bob,
        lambda s: str(s.from_) == f"{room}/carol" and s.type == "unavailable",
        what="carol leaving",
    )
    assert 110 not in codes(got[-1]), show(got)


def test_poezio_joins_sees_others_talks_and_leaves(stack: Stack, room: str) -> None:
    """§7.2, §7.4, §7.14 from a terminal client a person would use."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            mod, bob = await owned_room(c, room)
            try:
                with poezio(CAROL, stack.lab.password("carol"), stack.lab.c2s_port) as term:
                    await _story(term, mod, bob, room, stack)
            except TerminalError as exc:
                raise AssertionError(f"poezio could not run: {exc}") from None

    run(scenario(), timeout=120)
