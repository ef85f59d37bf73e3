"""Join errors from a real room reach each pending session with its own join id (§7.2.6-§7.2.11).

The room answers the account's single join; every session that was waiting for it gets
the error as its own join would have: from the occupant JID it asked for, with its id.
The real occupant bob never sees alice. A later join is the account's join again.
"""

from __future__ import annotations

from examples.component import Session

from minimix_core import JID

from .harness import (
    World,
    codes,
    error_of,
    join,
    presences_from,
    run,
    show,
    until,
    world,
)
from .lab import Lab

ALICE = "alice@users.localhost"


async def _refused(session: Session, join_id: str, occupant: str) -> tuple[str | None, str | None]:
    """Wait for the error to the join ``join_id``; check its address and id."""
    got = await until(session, lambda s: s.type == "error", what="a join error")
    assert len(got) == 1, f"{session} got more than the error:\n{show(got)}"
    [error] = got
    assert error.kind == "presence" and error.to == session.jid, show(got)
    assert error.id == join_id, f"{session} got another join's error:\n{show(got)}"
    assert error.from_ == JID.parse(occupant), show(got)
    return error_of(error)


async def _bob_saw_nothing(w: World, room: str) -> None:
    await w.sync()
    seen = w.bob.drain()
    assert presences_from(seen, f"{room}/alice") == [], show(seen)


async def _joins_after_all(
    w: World, session: Session, room: str, password: str | None = None
) -> None:
    """The failed join left nothing behind: a new join is sent and succeeds."""
    await join(session, room, password=password)
    got = await until(session, lambda s: 110 in codes(s), what="its self-presence")
    assert got[-1].type is None, show(got)
    await until(w.bob, lambda s: s.from_ == JID.parse(f"{room}/alice"), what="alice joining")


def test_password_protected_room_401_not_authorized(lab: Lab, room: str) -> None:
    """§7.2.6: no or a wrong password; two pending sessions each get their own error."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(
                room,
                "bob",
                {
                    "muc#roomconfig_passwordprotectedroom": "1",
                    "muc#roomconfig_roomsecret": "s3cret",
                },
            )
            phone, laptop = w.session("phone"), w.session("laptop")
            phone_join = await join(phone, room)
            laptop_join = await join(laptop, room, password="wrong")
            assert await _refused(phone, phone_join, f"{room}/alice") == ("auth", "not-authorized")
            assert await _refused(laptop, laptop_join, f"{room}/alice") == (
                "auth",
                "not-authorized",
            )
            await _bob_saw_nothing(w, room)
            await _joins_after_all(w, phone, room, password="s3cret")

    run(scenario())


def test_members_only_room_407_registration_required(lab: Lab, room: str) -> None:
    """§7.2.7: a members-only room refuses a non-member; after a member grant it admits."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob", {"muc#roomconfig_membersonly": "1"})
            phone = w.session("phone")
            join_id = await join(phone, room)
            assert await _refused(phone, join_id, f"{room}/alice") == (
                "auth",
                "registration-required",
            )
            await _bob_saw_nothing(w, room)
            await w.bob.set_affiliation(room, ALICE, "member")
            await _joins_after_all(w, phone, room)

    run(scenario())


def test_nick_taken_409_conflict(lab: Lab, room: str) -> None:
    """§7.2.9: the error comes from the occupant JID asked for (room/bob), with the join's id."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob")
            phone = w.session("phone")
            join_id = await join(phone, room, nick="bob")
            assert await _refused(phone, join_id, f"{room}/bob") == ("cancel", "conflict")
            await _bob_saw_nothing(w, room)
            await _joins_after_all(w, phone, room)

    run(scenario())


def test_banned_403_forbidden(lab: Lab, room: str) -> None:
    """§7.2.8: the account's bare JID is an outcast before it ever joined."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob")
            await w.bob.set_affiliation(room, ALICE, "outcast")
            phone = w.session("phone")
            join_id = await join(phone, room)
            assert await _refused(phone, join_id, f"{room}/alice") == ("auth", "forbidden")
            await _bob_saw_nothing(w, room)
            # Refused again, by the room, for the next join too: nothing was cached.
            join_id = await join(phone, room)
            assert await _refused(phone, join_id, f"{room}/alice") == ("auth", "forbidden")

    run(scenario())
