"""Two sessions of one account in a real room: join, late join, groupchat, leaving.

alice@users.localhost is the account (the example component); bob@localhost is a real
c2s occupant and the room's owner, so he sees occupants' real JIDs (XEP-0045 §7.2.4).
"""

from __future__ import annotations

from minimix_core import JID, Stanza

from .harness import (
    MUC,
    World,
    body,
    codes,
    is_subject,
    items,
    join,
    joined,
    new_id,
    presences_from,
    room_with_two_sessions,
    run,
    show,
    subject,
    until,
    with_id,
    world,
)
from .lab import Lab

ALICE = "alice@users.localhost"


async def _subject(w: World, room: str, text: str) -> None:
    w.bob.send(f"<message to='{room}' type='groupchat'><subject>{text}</subject></message>")
    await until(w.bob, lambda s: subject(s) == text, what="his subject change reflected")


def _check_join_answer(got: list[Stanza], session_jid: JID, room: str, join_id: str) -> None:
    """What a session joining directly would get (§7.2.2-§7.2.15): others, self (110), subject."""
    presences = [s for s in got if s.kind == "presence"]
    assert [str(p.from_) for p in presences] == [f"{room}/bob", f"{room}/alice"], show(got)
    mine = presences[-1]
    assert mine.type is None and 110 in codes(mine), show(got)
    assert mine.to == session_jid and mine.id == join_id, show(got)
    assert got.index(mine) < len(got) - 1  # the subject follows the self-presence
    assert is_subject(got[-1]) and subject(got[-1]) == "Interop", show(got)
    assert all(s.to == session_jid for s in got), show(got)


def test_two_sessions_join_first_from_bare_jid_then_from_state(lab: Lab, room: str) -> None:
    """§7.2: the first session's join becomes the account's; the second is answered locally."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob")
            await _subject(w, room, "Interop")
            phone, laptop = w.session("phone"), w.session("laptop")

            join_id = await join(phone, room)
            got = await until(phone, is_subject, what="the subject that ends a join")
            _check_join_answer(got, phone.jid, room, join_id)
            [sent] = w.router.sent()
            assert sent.from_ == JID.parse(ALICE) and sent.to == JID.parse(f"{room}/alice")
            assert sent.kind == "presence" and sent.find(f"{{{MUC}}}x") is not None
            seen = await until(w.bob, lambda s: s.from_ == JID.parse(f"{room}/alice"))
            [alice] = presences_from(seen, f"{room}/alice")
            assert alice.type is None, show(seen)
            # bob is the owner, so he sees who joined: the account's bare JID, not a session.
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


def test_groupchat_both_ways_with_reflection(lab: Lab, room: str) -> None:
    """§7.4: bob's message reaches both sessions; alice's reaches bob once, reflected to both."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)

            w.bob.send(
                f"<message to='{room}' type='groupchat' id='b1'><body>hi alice</body></message>"
            )
            for session in (phone, laptop):
                msg = (await until(session, with_id("b1")))[-1]
                assert msg.from_ == JID.parse(f"{room}/bob") and msg.to == session.jid
                assert msg.type == "groupchat" and body(msg) == "hi alice"

            message_id = new_id("a")
            await phone.send(
                f"<message to='{room}' type='groupchat' id='{message_id}'><body>hi bob</body></message>"
            )
            seen = await until(w.bob, with_id(message_id))
            assert seen[-1].from_ == JID.parse(f"{room}/alice") and body(seen[-1]) == "hi bob"
            for session in (phone, laptop):
                got = await until(session, with_id(message_id), what="the reflection")
                assert got[-1].from_ == JID.parse(f"{room}/alice") and got[-1].to == session.jid
                assert body(got[-1]) == "hi bob"

            await w.sync()
            everything = [*seen, *w.bob.drain()]
            assert [s.id for s in everything].count(message_id) == 1, show(everything)
            assert phone.drain() == [] and laptop.drain() == []

    run(scenario())


def test_one_session_leaves_and_the_room_sees_nothing(lab: Lab, room: str) -> None:
    """§7.14 per session: the leaving session gets its 110 unavailable; the room stays."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)

            await phone.send(f"<presence to='{room}/alice' type='unavailable' id='l1'/>")
            got = await until(phone, lambda s: 110 in codes(s), what="its unavailable")
            *before, bye = got
            assert bye.from_ == JID.parse(f"{room}/alice") and bye.to == phone.jid
            assert bye.type == "unavailable" and bye.id == "l1", show(got)
            # Only a room with a presence of its own (ejabberd) sends its unavailable first.
            assert all(s.from_ == JID.parse(room) and s.type == "unavailable" for s in before)

            await w.sync()
            assert presences_from(w.bob.drain(), f"{room}/alice") == []
            assert laptop.drain() == []

            w.bob.send(
                f"<message to='{room}' type='groupchat' id='b2'><body>still there?</body></message>"
            )
            await until(laptop, with_id("b2"))
            await w.sync()
            assert phone.drain() == [], "a session that left still gets the room's traffic"

    run(scenario())


def test_last_session_leaves_and_bob_sees_alice_leave(lab: Lab, room: str) -> None:
    """§7.14: when the last session leaves, the account leaves, with that session's status."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            await phone.send(f"<presence to='{room}/alice' type='unavailable'/>")
            await until(phone, lambda s: s.type == "unavailable")

            await laptop.send(
                f"<presence to='{room}/alice' type='unavailable' id='l2'><status>bye</status></presence>"
            )
            got = await until(laptop, lambda s: s.type == "unavailable", what="its unavailable")
            [mine] = got
            assert mine.from_ == JID.parse(f"{room}/alice") and 110 in codes(mine), show(got)
            assert mine.find("status") is not None and mine.find("status").text == "bye"  # type: ignore[union-attr]

            seen = await until(w.bob, lambda s: s.from_ == JID.parse(f"{room}/alice"))
            assert seen[-1].type == "unavailable" and 110 not in codes(seen[-1]), show(seen)
            assert seen[-1].find("status").text == "bye", show(seen)  # type: ignore[union-attr]

            await w.sync()
            assert phone.drain() == [] and laptop.drain() == []
            # The account is out: a new join is the account's join again (bob sees it).
            await join(phone, room)
            await until(phone, lambda s: 110 in codes(s))
            await until(w.bob, lambda s: s.from_ == JID.parse(f"{room}/alice"))

    run(scenario())


def test_join_without_muc_x_is_not_a_join(lab: Lab, room: str) -> None:
    """§7.2.1: presence without <x xmlns=muc/> is routed as it is (Prosody: item-not-found)."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob")
            phone = w.session("phone")
            await phone.send(f"<presence to='{room}/alice' id='p1'/>")
            got = await until(phone, lambda s: s.type == "error")
            assert got[-1].id == "p1", show(got)
            await w.sync()
            assert presences_from(w.bob.drain(), f"{room}/alice") == []

    run(scenario())


def test_leave_and_join_again_before_the_room_answers(lab: Lab, room: str) -> None:
    """A client that reconnects fast: its join while the account is leaving is queued."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob")
            phone = w.session("phone")
            await joined(phone, room)
            await phone.send(f"<presence to='{room}/alice' type='unavailable' id='l3'/>")
            join_id = await join(phone, room)

            got = await until(phone, is_subject, what="the end of its new join")
            assert got[0].type == "unavailable" and got[0].id == "l3", show(got)
            assert 110 in codes(got[0]), show(got)
            mine = [s for s in got[1:] if s.kind == "presence" and 110 in codes(s)]
            assert len(mine) == 1 and mine[0].type is None, show(got)
            assert mine[0].id == join_id and mine[0].to == phone.jid, show(got)

            seen = await until(w.bob, with_id(join_id), what="alice back")
            alice = presences_from(seen, f"{room}/alice")
            assert [p.type for p in alice][-2:] == ["unavailable", None], show(seen)

    run(scenario())
