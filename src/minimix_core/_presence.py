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
from ._sessions import Attachment, NickChange
from ._stanza import CLIENT_NS, Element, Stanza
from ._table import Occupancy

__all__ = [
    "NOT_FOR_THE_ROOM",
    "aggregate_update",
    "hold_presence",
    "nick_change_dropped",
    "nick_timeout",
    "payload_of",
    "rejoin_payload",
    "request_nick_change",
    "session_presence",
]

_SHOW: Final = f"{{{CLIENT_NS}}}show"
# Lower is more available (RFC 6121 §4.7.2.1, "chat" above plain online).
_RANK: Final = {"chat": 0, None: 1, "dnd": 2, "away": 3, "xa": 4}
NOT_FOR_THE_ROOM: Final = frozenset({CAPS_C, MUC_X, USER_X})
"""What of a session's presence is for the router, not the room: caps, the MUC <x/>."""


def payload_of(stanza: Stanza) -> tuple[Element, ...]:
    """What of a session's presence becomes the account's: show, status, priority, ..."""
    return tuple(c for c in stanza.children if c.tag not in NOT_FOR_THE_ROOM)


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
    if not occupancy.attached or occupancy.view.nick is None:
        return []
    payload = _aggregate(occupancy)
    if payload == occupancy.sent_payload:
        return []
    occupancy.sent_payload = payload
    to = occupancy.room.with_resource(occupancy.view.nick)
    return [Send(stanza=Stanza("presence", from_=account, to=to, id=stanza_id, children=payload))]


def hold_presence(core: Core, session: JID, stanza: Stanza, occupancy: Occupancy) -> None:
    """An attached session's presence while the account is out of the room (rejoining).

    It counts towards the aggregate: the rejoin's join carries it to the room, or, with
    the join in flight already, the update that follows the room's answer.
    """
    attachment = occupancy.attached[session]
    attachment.payload = payload_of(stanza)
    attachment.seq = core.next_seq()


def rejoin_payload(occupancy: Occupancy) -> tuple[Element, ...]:
    """What a rejoin's join carries: the attached sessions' aggregate as it is now.

    Sessions may have changed their presence, or gone, since the room last had it.
    """
    if occupancy.attached:
        occupancy.sent_payload = _aggregate(occupancy)
    return occupancy.sent_payload


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
    core: Core,
    session: JID,
    stanza: Stanza,
    occupancy: Occupancy,
    nick: str,
    *,
    answered: bool = False,
) -> list[Action]:
    """A session asks for another nick (§7.6): the account asks the room, for everyone.

    A join (muc ``<x/>``) to the new nick means change and resync to the room (fixtures
    finding 6); the account asks for the change alone, and the session that wanted the
    resync gets it from the router once the room has answered. The room has
    ``Config.nick_change_timeout`` seconds to answer. ``answered``: the session's late
    join (``nick_policy="follow"``) was answered already, under the account's nick with
    210: it asks for no resync, and a refusal or a timeout leaves it with that nick, as
    it was told, instead of reaching it as an error with its join's id (a client takes
    that for a failed join while it stays attached).
    """
    if answered and occupancy.nick_change is not None:
        return []  # another change is in flight: the 210 answer stands
    if occupancy.nick_change is not None:
        # One change at a time: the room would see two and answer them in any order.
        return [
            Deliver(
                session=session,
                stanza=_nick_error(occupancy, session, stanza.id, nick, "resource-constraint"),
            )
        ]
    resync = not answered and stanza.find(MUC_X) is not None
    asker = None if answered else session
    occupancy.nick_change = NickChange(asker, nick, stanza.id, stanza.id, resync=resync)
    core.schedule(("nick", session.bare, occupancy.room), core.config.nick_change_timeout)
    change = Stanza(
        "presence",
        from_=session.bare,
        to=occupancy.room.with_resource(nick),
        id=stanza.id,
        children=occupancy.sent_payload,
    )
    return [Send(stanza=change)]


def _nick_error(
    occupancy: Occupancy, session: JID, stanza_id: str | None, nick: str, condition: str
) -> Stanza:
    return Stanza(
        "presence",
        type="error",
        from_=occupancy.room.with_resource(nick),
        to=session,
        id=stanza_id,
        children=(
            Element(
                f"{{{CLIENT_NS}}}error",
                (("type", "wait"),),
                (Element(f"{{urn:ietf:params:xml:ns:xmpp-stanzas}}{condition}"),),
            ),
        ),
    )


def nick_change_dropped(occupancy: Occupancy) -> list[Action]:
    """The account is out of the room, joining it again: a change in flight gets no answer.

    The session that asked hears it may ask again (resource-constraint, wait), as it would
    asking now; the rejoin goes under the account's nick.
    """
    change, occupancy.nick_change = occupancy.nick_change, None
    if change is None or change.session is None:
        return []
    error = _nick_error(
        occupancy, change.session, change.request_id, change.nick, "resource-constraint"
    )
    return [Deliver(session=change.session, stanza=error)]


def nick_timeout(core: Core, account_jid: JID, room: JID) -> list[Action]:
    """The room did not answer a nick change in time.

    The session that asked gets ``remote-server-timeout`` (type ``wait``), and another
    change may be asked for.
    """
    occupancy = core.table.accounts[account_jid].rooms[room]
    change = occupancy.nick_change
    occupancy.nick_change = None
    if change is None or change.session is None:
        return []
    error = _nick_error(
        occupancy, change.session, change.request_id, change.nick, "remote-server-timeout"
    )
    return [Deliver(session=change.session, stanza=error)]
