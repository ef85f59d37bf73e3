"""Openings shared by the scenarios: a room with its owner, bob, and alice's two devices.

``mod@localhost`` creates every room (its owner, so it sees real JIDs, XEP-0045 §7.2.4) and
sets its subject; ``bob@localhost`` is a plain participant; alice has a phone and a laptop.
"""

from __future__ import annotations

from dataclasses import dataclass

from interop.harness import subject, until

from .devices import Clients, Device, settle

SUBJECT = "Real clients"


@dataclass
class Room:
    """A room with its owner, bob, and alice's phone and laptop all in it, inboxes empty."""

    jid: str
    mod: Device
    bob: Device
    phone: Device
    laptop: Device

    @property
    def everyone(self) -> tuple[Device, ...]:
        """Every device: mod, bob, alice's phone, alice's laptop."""
        return (self.mod, self.bob, self.phone, self.laptop)

    async def settle(self) -> None:
        """Wait until every device got what was sent so far."""
        await settle(self.jid, *self.everyone)

    def drain(self) -> None:
        """Forget what every device got so far."""
        for device in self.everyone:
            device.drain()


async def owned_room(c: Clients, room: str) -> tuple[Device, Device]:
    """mod creates ``room`` and sets its subject; bob joins it. Both inboxes are empty."""
    mod = await c.connect("mod", "desk")
    await mod.create_room(room, "mod")
    mod.send(f"<message to='{room}' type='groupchat'><subject>{SUBJECT}</subject></message>")
    await until(mod, lambda s: subject(s) == SUBJECT, what="its subject reflected")
    bob = await c.connect("bob", "desk")
    await bob.join(room, "bob")
    await settle(room, mod, bob)
    mod.drain()
    bob.drain()
    return mod, bob


async def full_room(c: Clients, room: str) -> Room:
    """:func:`owned_room`, then alice joins from her phone and then from her laptop."""
    mod, bob = await owned_room(c, room)
    phone = await c.connect("alice", "phone")
    await phone.join(room, "alice")
    laptop = await c.connect("alice", "laptop")
    await laptop.join(room, "alice")
    scene = Room(room, mod, bob, phone, laptop)
    await scene.settle()
    scene.drain()
    return scene
