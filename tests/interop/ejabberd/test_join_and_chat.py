"""``tests/interop/test_join_and_chat.py`` against ejabberd.

Imported scenarios run unchanged. The others are rewritten here for ejabberd's answers:
its room presence before a join's and a leave's answer (see ``ejabberd_muc``), and a
presence without the muc ``<x/>``, which ejabberd takes for a groupchat 1.0 join.
"""

from __future__ import annotations

from minimix_core import JID, Stanza

from ..harness import (
    MUC,
    World,
    codes,
    is_subject,
    items,
    join,
    joined,
    presences_from,
    room_with_two_sessions,
    run,
    show,
    subject,
    until,
    with_id,
    world,
)
from ..lab import Lab
from ..test_join_and_chat import (
    test_groupchat_both_ways_with_reflection,
    test_one_session_leaves_and_the_room_sees_nothing,
)
from .ejabberd_muc import is_room_caps, is_room_unavailable, room_presences, without_room_presences

__all__ = [
    "test_groupchat_both_ways_with_reflection",
    "test_join_without_muc_x_is_a_groupchat_1_join_of_the_session",
    "test_last_session_leaves_and_bob_sees_alice_leave",
    "test_late_session_gets_the_rooms_own_presence",
    "test_leave_and_join_again_before_the_room_answers",
    "test_one_session_leaves_and_the_room_sees_nothing",
    "test_two_sessions_join_first_from_bare_jid_then_from_state",
]

ALICE = "alice@users.localhost"


async def _subject(w: World, room: str, text: str) -> None:
    w.bob.send(f"<message to='{room}' type='groupchat'><subject>{text}</subject></message>")
    await until(w.bob, lambda s: subject(s) == text, what="his subject change reflected")


def _check_join_answer(got: list[Stanza], session_jid: JID, room: str, join_id: str) -> None:
    """As the Prosody scenario checks it, the room's own presence left aside."""
    assert all(s.to == session_jid for s in got), show(got)
    got = without_room_presences(got, room)
    presences = [s for s in got if s.kind == "presence"]
    assert [str(p.from_) for p in presences] == [f"{room}/bob", f"{room}/alice"], show(got)
    mine = presences[-1]
    assert mine.type is None and 110 in codes(mine), show(got)
    assert mine.id == join_id, show(got)
    assert got.index(mine) < len(got) - 1  # the subject follows the self-presence
    assert is_subject(got[-1]) and subject(got[-1]) == "Interop", show(got)


def test_two_sessions_join_first_from_bare_jid_then_from_state(lab: Lab, room: str) -> None:
    """§7.2: as on Prosody; the first session's answer starts with the room's presence."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob")
            await _subject(w, room, "Interop")
            phone, laptop = w.session("phone"), w.session("laptop")

            join_id = await join(phone, room)
            got = await until(phone, is_subject, what="the subject that ends a join")
            _check_join_answer(got, phone.jid, room, join_id)
            # ejabberd: the room's own presence (caps) comes first, forwarded as it came.
            assert is_room_caps(got[0], room) and len(room_presences(got, room)) == 1, show(got)
            [sent] = w.router.sent()
            assert sent.from_ == JID.parse(ALICE) and sent.to == JID.parse(f"{room}/alice")
            assert sent.kind == "presence" and sent.find(f"{{{MUC}}}x") is not None
            seen = await until(w.bob, lambda s: s.from_ == JID.parse(f"{room}/alice"))
            [alice] = presences_from(seen, f"{room}/alice")
            assert alice.type is None, show(seen)
            assert [i.get("jid") for i in items(alice)] == [ALICE], show(seen)

            join_id = await join(laptop, room)
            got = await until(laptop, is_subject, what="the subject that ends a join")
            _check_join_answer(got, laptop.jid, room, join_id)

            await w.sync()
            assert len(w.router.sent()) == 1, show(w.router.sent())
            assert w.bob.drain() == [], "the room saw the second session's join"
            assert phone.drain() == [], "the first session saw the second one join"
            assert laptop.drain() == []

    run(scenario())


def test_late_session_gets_the_rooms_own_presence(lab: Lab, room: str) -> None:
    """§7.1 on ejabberd: a late session's answer starts like carol's direct one, with the
    room's own presence."""

    async def scenario() -> None:
        async with world(lab, "bob", "carol") as w:
            await w.bob.create_room(room, "bob")
            await joined(w.session("phone"), room)
            w.carol.send(f"<presence to='{room}/carol'><x xmlns='{MUC}'/></presence>")
            direct = await until(w.carol, is_subject, what="the end of her join")
            [caps] = room_presences(direct, room)
            assert is_room_caps(caps, room), show(direct)
            late = await joined(w.session("laptop"), room)
            assert [s.replace(to=None, id=None) for s in room_presences(late, room)] == [
                caps.replace(to=None, id=None)
            ], f"direct:\n{show(direct)}\nlate:\n{show(late)}"

    run(scenario())


def test_last_session_leaves_and_bob_sees_alice_leave(lab: Lab, room: str) -> None:
    """§7.14: as on Prosody; the leaving session also gets the room's unavailable first."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            await phone.send(f"<presence to='{room}/alice' type='unavailable'/>")
            got = await until(phone, lambda s: 110 in codes(s), what="its unavailable")
            # Answered by the router as ejabberd would: the room's unavailable, then its own.
            assert len(got) == 2 and is_room_unavailable(got[0], room), show(got)

            await laptop.send(
                f"<presence to='{room}/alice' type='unavailable' id='l2'><status>bye</status></presence>"
            )
            got = await until(
                laptop, lambda s: 110 in codes(s), what="its unavailable self-presence"
            )
            assert len(got) == 2 and is_room_unavailable(got[0], room), show(got)
            mine = got[-1]
            assert mine.type == "unavailable" and mine.id == "l2", show(got)
            assert mine.from_ == JID.parse(f"{room}/alice"), show(got)
            assert mine.find("status") is not None and mine.find("status").text == "bye"  # type: ignore[union-attr]

            seen = await until(w.bob, lambda s: s.from_ == JID.parse(f"{room}/alice"))
            assert seen[-1].type == "unavailable" and 110 not in codes(seen[-1]), show(seen)
            assert seen[-1].find("status").text == "bye", show(seen)  # type: ignore[union-attr]

            await w.sync()
            assert phone.drain() == [] and laptop.drain() == []
            await join(phone, room)
            await until(phone, lambda s: 110 in codes(s))
            await until(w.bob, lambda s: s.from_ == JID.parse(f"{room}/alice"))

    run(scenario())


def test_join_without_muc_x_is_a_groupchat_1_join_of_the_session(lab: Lab, room: str) -> None:
    """§7.2.1 differs: ejabberd admits a presence without <x/> (groupchat 1.0).

    The router does not take it for a join and routes it as it is (Continue), from the
    session's full JID; Prosody refuses it (item-not-found) but ejabberd admits the
    session itself: the room gets a second kind of occupant, the session's full JID,
    which bob sees and the router knows nothing about. Its unavailable is routed as it is
    too, and ejabberd lets the session out.
    """

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob")
            phone = w.session("phone")
            await phone.send(f"<presence to='{room}/alice' id='p1'/>")
            got = await until(phone, is_subject, what="the room's join answer")
            assert all(s.to == phone.jid for s in got), show(got)
            assert is_room_caps(got[0], room), show(got)
            [mine] = [s for s in got if 110 in codes(s)]
            assert mine.type is None and mine.id == "p1", show(got)
            assert [i.get("jid") for i in items(mine)] == [str(phone.jid)], show(got)
            seen = await until(w.bob, lambda s: s.from_ == JID.parse(f"{room}/alice"))
            assert [i.get("jid") for i in items(seen[-1])] == [str(phone.jid)], show(seen)
            assert w.router.sent() == [], show(w.router.sent())

            await phone.send(f"<presence to='{room}/alice' type='unavailable' id='p2'/>")
            got = await until(phone, lambda s: 110 in codes(s), what="its unavailable")
            assert is_room_unavailable(got[0], room) and got[-1].type == "unavailable", show(got)
            assert got[-1].id == "p2", show(got)
            seen = await until(w.bob, with_id("p2"), what="alice leaving")
            assert seen[-1].type == "unavailable", show(seen)
            assert w.router.sent() == [], show(w.router.sent())

    run(scenario())


def test_leave_and_join_again_before_the_room_answers(lab: Lab, room: str) -> None:
    """As on Prosody; ejabberd's room presences frame the leave's and the new join's answers."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob")
            phone = w.session("phone")
            await joined(phone, room)
            await phone.send(f"<presence to='{room}/alice' type='unavailable' id='l3'/>")
            join_id = await join(phone, room)

            got = await until(phone, is_subject, what="the end of its new join")
            assert is_room_unavailable(got[0], room) and is_room_caps(got[2], room), show(got)
            assert len(room_presences(got, room)) == 2, show(got)
            got = without_room_presences(got, room)
            assert got[0].type == "unavailable" and got[0].id == "l3", show(got)
            assert 110 in codes(got[0]), show(got)
            mine = [s for s in got[1:] if s.kind == "presence" and 110 in codes(s)]
            assert len(mine) == 1 and mine[0].type is None, show(got)
            assert mine[0].id == join_id and mine[0].to == phone.jid, show(got)

            seen = await until(w.bob, with_id(join_id), what="alice back")
            alice = presences_from(seen, f"{room}/alice")
            assert [p.type for p in alice][-2:] == ["unavailable", None], show(seen)

    run(scenario())
