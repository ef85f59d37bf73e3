"""Join errors reach every pending session as its own join would have (XEP-0045 §7.2.6-§7.2.11)."""

from __future__ import annotations

import pytest

from fixture_transcripts import StanzaEntry, load
from helpers import ALICE, LAPTOP, PHONE, Harness, join
from minimix_core import JID, Deliver, Stanza

ROOM_ERRORS = [
    (name, entry.stanza)
    for name in ("h-join-errors.txt", "e-kick-ban.txt", "f-destroy.txt", "a-create-room.txt")
    for entry in load(name)
    if isinstance(entry, StanzaEntry)
    and entry.stanza.kind == "presence"
    and entry.stanza.type == "error"
    and entry.stanza.to == JID.parse("alice@users.localhost")
]
CONDITIONS = {
    "not-authorized",  # 401 password
    "registration-required",  # 407 members-only
    "conflict",  # 409 nick taken
    "forbidden",  # 403 banned
    "item-not-found",  # locked or missing room
    "gone",  # tombstone of a destroyed persistent room
}


def test_the_fixtures_hold_every_join_error_the_issue_names() -> None:
    """401, 403, 407, 409, item-not-found and gone, as Prosody really sends them."""
    seen: set[str] = set()
    for _, stanza in ROOM_ERRORS:
        error = stanza.find("error")
        assert error is not None
        seen.update(child.name for child in error.children if child.name != "text")
    assert seen >= CONDITIONS


@pytest.mark.parametrize(
    ("name", "error"), ROOM_ERRORS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_join_error_reaches_each_pending_session_with_its_nick_and_id(
    name: str, error: Stanza
) -> None:
    """§7.2.6-§7.2.11: condition, type, by and text unchanged; from the nick it asked; its own id."""
    assert error.from_ is not None
    assert error.from_.resource is not None
    room, nick = error.from_.bare, error.from_.resource
    h = Harness()
    h.session(PHONE, join(nick, jid="j1", room=room))
    h.session(LAPTOP, join("al", jid=None, room=room))
    to_account = error.replace(to=ALICE)
    assert h.room(to_account) == [
        Deliver(session=PHONE, stanza=to_account.replace(to=PHONE, id="j1")),
        Deliver(
            session=LAPTOP,
            stanza=to_account.replace(to=LAPTOP, id=None, from_=room.with_resource("al")),
        ),
    ]
    assert h.router._core.table.accounts == {}
