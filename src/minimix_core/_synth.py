"""Stanzas the router writes itself: what a room would have sent a session joining directly."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from ._actions import Action, Deliver
from ._jid import JID
from ._muc import (
    CAPS_C,
    ITEM,
    NOT_CONNECTED_TEXT,
    OCCUPANT_ID_TAG,
    STATUS,
    STATUS_TEXT,
    USER_X,
    error_stanza,
    status_code,
)
from ._sessions import Attachment
from ._stanza import Element, Stanza
from ._table import Occupancy

__all__ = [
    "departed_item",
    "farewell",
    "fork_self_presence",
    "late_join",
    "not_connected",
    "removal_for_session",
    "unavailable_self",
    "with_statuses",
    "without_caps",
]

# Codes a synthesized self-presence recomputes instead of copying (§7.2.2, §7.2.3, §7.2.12,
# §10.1.1): 110 always, 100/170 from the room's flags, 210 per session, 201 never again.
_RECOMPUTED = frozenset({100, 110, 170, 201, 210})


def _status(code: int) -> Element:
    return Element(STATUS, (("code", str(code)),))


def with_statuses(stanza: Stanza, add: Iterable[int], drop: frozenset[int] = frozenset()) -> Stanza:
    """``stanza`` with its muc#user status codes edited: ``drop`` removed, ``add`` appended.

    Codes already present are not repeated; a muc#user ``<x/>`` is created if missing.
    """
    return stanza.replace(children=_edit_statuses(stanza.children, add, drop))


@lru_cache(maxsize=1024)
def _self_payload(
    children: tuple[Element, ...], flags: frozenset[int], renamed: bool
) -> tuple[Element, ...]:
    """A late joiner's self-presence payload: the room's, its status codes recomputed.

    110, the room's configuration ``flags``, and 210 when the session is ``renamed``
    (it asked for another nick). Every late join into a room builds the same one from the
    same cached self-presence (the payload is pooled across accounts), so it is built
    once: a pure function of its arguments, bounded, the same result whichever router
    asks.
    """
    codes = {110, *flags, 210} if renamed else {110, *flags}
    return _edit_statuses(children, sorted(codes), _RECOMPUTED)


def _edit_statuses(
    payload: tuple[Element, ...], add: Iterable[int], drop: frozenset[int]
) -> tuple[Element, ...]:
    x = next((child for child in payload if child.tag == USER_X), None)
    kept: list[Element] = []
    present: set[int] = set()
    if x is not None:
        for child in x.children:
            code = status_code(child) if child.tag == STATUS else None
            if code is not None:
                if code in drop:
                    continue
                present.add(code)
            kept.append(child)
    kept.extend(_status(code) for code in sorted(set(add) - present))
    new_x = Element(USER_X, x.attrs if x is not None else (), tuple(kept))
    if x is None:
        return (*payload, new_x)
    return tuple(new_x if child is x else child for child in payload)


def without_caps(stanza: Stanza) -> Stanza:
    """``stanza`` without XEP-0115 caps: disco for the occupant reaches the server, not a client."""
    if stanza.find(CAPS_C) is None:
        return stanza
    return stanza.replace(children=tuple(c for c in stanza.children if c.tag != CAPS_C))


def fork_self_presence(
    stanza: Stanza, occupancy: Occupancy, session: JID, attachment: Attachment
) -> Stanza:
    """The room's self-presence as the session would have had it from its own join.

    The room reflects the account's join ``id``; each session gets its own. A session
    that asked for another nick than the one the room gave learns it by 210.
    """
    fork = stanza.with_to(session)
    if stanza.id is not None and stanza.id == occupancy.join_id:
        fork = fork.replace(id=attachment.join_id)
    add = (
        (210,) if occupancy.view.nick is not None and attachment.nick != occupancy.view.nick else ()
    )
    # Only the session whose join created the room created it (§10.1.1).
    drop = frozenset() if session == occupancy.joiner else frozenset({201})
    if add or (drop and occupancy.view.created):
        fork = with_statuses(fork, add, drop)
    return fork


def late_join(
    occupancy: Occupancy,
    cached: Stanza,
    session: JID,
    attachment: Attachment,
    history: list[Stanza],
) -> list[Action]:
    """What a session joining an already joined room gets, in XEP-0045 §7.1 order.

    The room's own presence if it sent one, every other occupant's presence, then the
    session's self-presence (110 last among presences), then ``history``, then the
    subject: one :class:`~minimix_core.Deliver` each. The subject is left out only while
    the room has not sent one yet: it is then on its way and reaches the session live.
    """
    view = occupancy.view
    # Thousands of cached presences for a big room: each copy and its Deliver are built as
    # plain tuples in one list comprehension (constructor calls, an append per item or a
    # second pass to wrap them would cost a third more). The self-presence and the
    # subject too: their two constructor calls cost a join of a room of ten a twentieth.
    new = tuple.__new__
    out: list[Action] = []
    append = out.append
    if view.room_presence is not None:
        append(new(Deliver, (session, view.room_presence.with_to(session))))
    out += [
        new(Deliver, (session, new(Stanza, (kind, type_, from_, session, id_, attrs, payload))))
        for kind, type_, from_, _, id_, attrs, payload in view.occupants.values()
    ]
    kind, type_, from_, _, _, attrs, payload = cached
    payload = _self_payload(payload, view.flags, view.nick != attachment.nick)
    own = new(Stanza, (kind, type_, from_, session, attachment.join_id, attrs, payload))
    append(new(Deliver, (session, own)))
    for message in history:
        append(new(Deliver, (session, message.with_to(session))))
    if view.subject is not None:
        kind, type_, from_, _, id_, attrs, payload = view.subject
        append(
            new(Deliver, (session, new(Stanza, (kind, type_, from_, session, id_, attrs, payload))))
        )
    return out


def departed_item(presence: Stanza | None) -> Element:
    """The ``<item/>`` of someone who left: their last item with role ``none`` (§7.14)."""
    x = None if presence is None else presence.find(USER_X)
    item = None if x is None else x.find(ITEM)
    if item is None:
        return Element(ITEM, (("affiliation", "none"), ("role", "none")))
    return Element(ITEM, tuple((k, "none" if k == "role" else v) for k, v in item.attrs))


def farewell(occupancy: Occupancy, session: JID, leave: Stanza) -> list[Stanza]:
    """What a session leaving alone gets, as a room would send it.

    The room's own unavailable first when the room has a presence of its own (ejabberd
    sends one before the occupant's), then the session's unavailable self-presence.
    """
    own = unavailable_self(occupancy, session, leave)
    if occupancy.view.room_presence is None:
        return [own]
    room = Stanza("presence", type="unavailable", from_=occupancy.room, to=session)
    return [room, own]


def unavailable_self(occupancy: Occupancy, session: JID, leave: Stanza) -> Stanza:
    """The unavailable self-presence a room sends a leaving occupant (§7.14).

    Role ``none``, the account's affiliation, 110, and the ``<status/>`` text of the
    session's own leave presence, as Prosody echoes it.
    """
    children = list(leave.findall(STATUS_TEXT))
    cached = occupancy.view.self_presence
    if cached is not None:
        children.extend(cached.findall(OCCUPANT_ID_TAG))
    x_children = (departed_item(cached), _status(110))
    children.append(Element(USER_X, (), x_children))
    return Stanza(
        "presence",
        type="unavailable",
        from_=occupancy.room.with_resource(occupancy.current_nick),
        to=session,
        id=leave.id,
        children=tuple(children),
    )


def not_connected(stanza: Stanza, session: JID, from_: JID) -> Stanza:
    """The ``not-acceptable`` a room answers a non-occupant with (Prosody's wording)."""
    return error_stanza(
        stanza,
        from_=from_,
        to=session,
        condition="not-acceptable",
        error_type="cancel",
        text=NOT_CONNECTED_TEXT,
    )


def removal_for_session(stanza: Stanza, session: JID) -> Stanza:
    """The room's removal of the account (kick, ban, destroy...) as one session sees it.

    110 is added when the room left it out (the XEP's ban example has none); the actor,
    reason and alternate venue stay as the room wrote them.
    """
    fork = stanza.with_to(session)
    return with_statuses(fork, (110,))
