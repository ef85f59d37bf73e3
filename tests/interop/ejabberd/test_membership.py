"""``tests/interop/test_membership.py`` against ejabberd.

Imported scenarios run unchanged. The gap-free restart is rewritten: while the component
is down, Prosody kicks alice (333) when the room's message to her bounces; ejabberd keeps
her in the room and hands the bounce to the message's author instead, as a private
error message from alice's occupant JID. The restored router's join (with
``<history since/>``) then finds her still in: a presence update for the room.
"""

from __future__ import annotations

from minimix_core import JID, Bookmark

from ..harness import (
    World,
    body,
    error_of,
    joined,
    presences_from,
    run,
    show,
    until,
    with_id,
    world,
)
from ..lab import Lab
from ..test_membership import (
    test_a_join_the_router_never_made_is_left_at_the_room_s_answer,
    test_a_room_that_still_counts_an_account_restored_without_it_drops_it,
    test_autojoin_bookmark_keeps_the_account_in_without_sessions,
    test_restart_from_a_snapshot_leaves_rooms_without_a_bookmark,
)

__all__ = [
    "test_a_join_the_router_never_made_is_left_at_the_room_s_answer",
    "test_a_room_that_still_counts_an_account_restored_without_it_drops_it",
    "test_autojoin_bookmark_keeps_the_account_in_without_sessions",
    "test_restart_from_a_snapshot_keeps_bookmarked_rooms_gap_free",
    "test_restart_from_a_snapshot_leaves_rooms_without_a_bookmark",
]

ALICE = "alice@users.localhost"


def _alice(room: str) -> JID:
    return JID.parse(f"{room}/alice")


async def _bob_sees_alice(w: World, room: str, kind: str | None) -> None:
    seen = await until(w.bob, lambda s: s.from_ == _alice(room), what="alice's presence")
    assert seen[-1].type == kind, show(seen)


def test_restart_from_a_snapshot_keeps_bookmarked_rooms_gap_free(lab: Lab, room: str) -> None:
    """Router.restore: an autojoin room is rejoined; a device then gets what it missed.

    ejabberd does not kick alice while the component is down: bob gets his message back
    as an error from room/alice (``forbidden``: the server has no route to the component).
    """

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            await w.bob.create_room(room, "bob")
            w.host.bookmarks_changed(ALICE, [Bookmark(room=JID.parse(room), autojoin=True)])
            await _bob_sees_alice(w, room, None)
            await joined(w.session("phone"), room)

            state = await w.stop_keeping_state()
            w.bob.send(
                f"<message to='{room}' type='groupchat' id='r1'><body>during</body></message>"
            )
            seen = await until(
                w.bob, lambda s: s.id == "r1" and s.type == "error", what="alice's bounce"
            )
            if not any(s.id == "r1" and s.type == "groupchat" for s in seen):
                seen += await until(w.bob, with_id("r1"), what="his message reflected")
            [bounce] = [s for s in seen if s.id == "r1" and s.type == "error"]
            assert bounce.kind == "message" and bounce.from_ == _alice(room), show(seen)
            assert error_of(bounce) == ("auth", "forbidden"), show(seen)
            assert body(bounce) == "during", show(seen)
            await w.sync_occupants()
            assert presences_from(w.bob.drain(), str(_alice(room))) == [], "alice was kicked"

            await w.start_from(state)
            seen = await until(w.bob, lambda s: s.from_ == _alice(room), what="alice's rejoin")
            assert [s.type for s in presences_from(seen, str(_alice(room)))] == [None], show(seen)
            sent = [s for s in w.router.sent() if s.kind == "presence"]
            assert len(sent) == 1 and sent[0].to == _alice(room), show(sent)
            assert sent[0].id == seen[-1].id, "the room did not answer the restored join"

            phone = w.session("phone")
            got = await joined(phone, room)
            assert [body(s) for s in got].count("during") == 1, f"the gap:\n{show(got)}"
            sent = [s for s in w.router.sent() if s.kind == "presence"]
            assert len(sent) == 1, show(sent)

    run(scenario())
