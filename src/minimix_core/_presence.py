"""The account's one presence in a room, and its one nick, made from its sessions'.

Each attached session may set its own show/status; the room sees one occupant, so the
account's presence is the most available of them (chat > online > dnd > away > xa; the
latest wins a tie) and is sent only when that aggregate changes. Client capabilities
(XEP-0115) are left out: disco queries for the occupant reach the server, not a client.
"""

from __future__ import annotations

from typing import Final

from ._actions import Action, Deliver, Discard, DiscardReason, Send
from ._core import Core
from ._jid import JID
from ._muc import CAPS_C, MUC_X, USER_X
from ._stanza import CLIENT_NS, Element, Stanza
from ._table import Attachment, NickChange, Occupancy

__all__ = [
    "aggregate_update",
    "payload_of",
    "request_nick_change",
    "session_presence",
]

_SHOW: Final = f"{{{CLIENT_NS}}}show"
# Lower is more available (RFC 6121 §4.7.2.1, "chat" above plain online).
_RANK: Final = {"chat": 0, None: 1, "dnd": 2, "away": 3, "xa": 4}
_NOT_FOR_THE_ROOM: Final = frozenset({CAPS_C, MUC_X, USER_X})


def payload_of(stanza: Stanza) -> tuple[Element, ...]:
    """What of a session's presence becomes the account's: show, status, priority, ..."""
    return tuple(c for c in stanza.children if c.tag not in _NOT_FOR_THE_ROOM)


def _rank(payload: tuple[Element, ...]) -> int:
    for child in payload:
        if child.tag == _SHOW:
            return _RANK.get(child.text, 1)
    return 1


def _aggregate(occupancy: Occupancy) -> tuple[Element, ...]:
    best: Attachment | None = None
    for attachment in occupancy.attached.values():
        if best is None or (_rank(attachment.payload), -attachment.seq) < (
            _rank(best.payload),
            -best.seq,
        ):
            best = attachment
    return () if best is None else best.payload


def aggregate_update(
    account: JID, occupancy: Occupancy, stanza_id: str | None = None
) -> list[Action]:
    """A presence to the room when the sessions' aggregate differs from what it has."""
    if not occupancy.attached or occupancy.nick is None:
        return []
    payload = _aggregate(occupancy)
    if payload == occupancy.sent_payload:
        return []
    occupancy.sent_payload = payload
    to = occupancy.room.with_resource(occupancy.nick)
    return [Send(stanza=Stanza("presence", from_=account, to=to, id=stanza_id, children=payload))]


def session_presence(
    core: Core, session: JID, stanza: Stanza, occupancy: Occupancy
) -> list[Action]:
    """An attached session's presence update (§7.7): it counts towards the aggregate."""
    attachment = occupancy.attached[session]
    attachment.payload = payload_of(stanza)
    attachment.seq = core.next_seq()
    update = aggregate_update(session.bare, occupancy, stanza.id)
    return update or [Discard(stanza=stanza, reason=DiscardReason.PRESENCE_UPDATE)]


def request_nick_change(
    session: JID, stanza: Stanza, occupancy: Occupancy, nick: str
) -> list[Action]:
    """A session asks for another nick (§7.6): the account asks the room, for everyone.

    A join (muc ``<x/>``) to the new nick means change and resync to the room (fixtures
    finding 6); the account asks for the change alone, and the session that wanted the
    resync gets it from the router once the room has answered.
    """
    if occupancy.nick_change is not None:
        # One change at a time: the room would see two and answer them in any order.
        error = Stanza(
            "presence",
            type="error",
            from_=occupancy.room.with_resource(nick),
            to=session,
            id=stanza.id,
            children=(
                Element(
                    f"{{{CLIENT_NS}}}error",
                    (("type", "wait"),),
                    (Element("{urn:ietf:params:xml:ns:xmpp-stanzas}resource-constraint"),),
                ),
            ),
        )
        return [Deliver(session=session, stanza=error)]
    resync = stanza.find(MUC_X) is not None
    occupancy.nick_change = NickChange(session, nick, stanza.id, resync=resync)
    change = Stanza(
        "presence",
        from_=session.bare,
        to=occupancy.room.with_resource(nick),
        id=stanza.id,
        children=occupancy.sent_payload,
    )
    return [Send(stanza=change)]
