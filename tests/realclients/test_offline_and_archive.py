"""An autojoin bookmark keeps the account in while every device is offline; the account's archive.

Differences from a direct join (docs/prosody.rst): leaving, disconnecting and coming back
are invisible to the room while an autojoin bookmark keeps the account in; a device that
comes back gets what it missed, not the room's default history; and the room's messages
are in the account's own MAM archive (a direct client's server archives no groupchat).
"""

from __future__ import annotations

from interop.harness import body, run, show

from .devices import MAM, clients, forwarded, from_room, messages, settle, text_of
from .scenes import owned_room
from .stack import Stack

ALICE = "alice@localhost"


def test_autojoin_keeps_the_account_in_and_the_phone_gets_what_it_missed(
    stack: Stack, room: str
) -> None:
    """XEP-0402 autojoin, then every device offline, then the phone back with no history asked."""

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            mod, bob = await owned_room(c, room)
            phone = await c.connect("alice", "phone")
            await phone.join(room, "alice")
            await phone.bookmark(room, "alice", autojoin=True)
            bob.say(room, "before", "b0")
            await settle(room, bob, phone, mod)
            for device in (mod, bob, phone):
                device.drain()

            await phone.disconnect()
            await settle(room, mod, bob)
            left = [s for s in from_room(mod.drain(), room) if s.kind == "presence"]
            if stack.module:
                assert left == [], f"the room saw alice go:\n{show(left)}"
            else:
                assert [(str(s.from_), s.type) for s in left] == [
                    (f"{room}/alice", "unavailable")
                ], show(left)

            bob.say(room, "while you were out", "b1")
            bob.say(room, "and again", "b2")
            await settle(room, bob, mod)
            mod.drain()
            bob.drain()

            phone = await c.connect("alice", "phone")
            got = from_room(await phone.join(room, "alice"), room)
            history = [(s.id, body(s)) for s in messages(got) if body(s) is not None]
            missed = [("b1", "while you were out"), ("b2", "and again")]
            if stack.module:
                assert history == missed, show(got)
            else:  # the room's default history: the last messages, seen or not
                assert history == [("b0", "before"), *missed], show(got)
            await settle(room, phone, mod, bob)
            seen = [s for s in from_room(mod.drain(), room) if s.kind == "presence"]
            assert len(seen) == (0 if stack.module else 1), show(seen)

    run(scenario())


def test_the_accounts_archive_holds_the_rooms_messages_once(stack: Stack, room: str) -> None:
    """XEP-0313 §4 on the account's own archive, filtered ``with`` the room.

    Through the module each room message is archived once for the account, whatever the
    number of devices; directly, the user's server archives no groupchat and the room's
    own archive (muc_mam) is the only place to find it.
    """

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            _mod, bob = await owned_room(c, room)
            phone = await c.connect("alice", "phone")
            await phone.join(room, "alice")
            laptop = await c.connect("alice", "laptop")
            await laptop.join(room, "alice")
            bob.say(room, "one", "m1")
            await settle(room, bob, phone, laptop)
            phone.say(room, "two", "m2")
            await settle(room, phone, bob, laptop)

            results = await laptop.archive(with_=room)
            found = []
            for result in results:
                inner = forwarded(result, f"{{{MAM}}}result")
                assert inner is not None, show(results)
                found.append((inner.get("from"), inner.get("id"), text_of(inner, "body")))
            if stack.module:
                assert found == [(f"{room}/bob", "m1", "one"), (f"{room}/alice", "m2", "two")], (
                    show(results)
                )
            else:
                assert found == [], show(results)

            in_room = await laptop.archive(to=room)  # the room's own archive: the same in both
            bodies = [text_of(forwarded(r, f"{{{MAM}}}result"), "body") for r in in_room]
            assert bodies == ["one", "two"], show(in_room)

    run(scenario())
