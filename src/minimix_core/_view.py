"""A read-only view of one occupancy, for hosts (disco ``muc#rooms``, UIs) and tests."""

from __future__ import annotations

from attrs import frozen

from ._core import Core
from ._jid import JID
from ._lifecycle import OccupancyState
from ._table import Occupancy

__all__ = ["OccupancyView", "view_of"]


@frozen(kw_only=True)
class OccupancyView:
    """What the router holds for one account in one room, copied when asked for.

    >>> from minimix_core import Router, FromSession, JID, parse_stanza
    >>> router = Router()
    >>> join = parse_stanza("<presence to='lounge@muc.example/alice' id='j1'>"
    ...                     "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
    >>> _ = router.handle(FromSession(session=JID.parse("alice@example.org/phone"),
    ...                               stanza=join), now=0.0)
    >>> view = router.occupancy(JID.parse("alice@example.org"), JID.parse("lounge@muc.example"))
    >>> view.state.value, view.pending, view.next_deadline
    ('joining', (JID('alice@example.org/phone'),), 60.0)
    """

    room: JID
    """The room's bare JID."""
    state: OccupancyState
    nick: str
    """The nick the room confirmed, or the one the account asked for while joining."""
    attached: tuple[JID, ...]
    """Sessions that are in the room as far as they know, in the order they came."""
    pending: tuple[JID, ...]
    """Sessions waiting for the room's answer to the account's join."""
    occupants: tuple[str, ...]
    """Other occupants' nicks, in the order they joined."""
    subject: str | None
    """The room's subject text; ``None`` until the room sent one."""
    next_deadline: float | None
    """When the current state stops waiting (seconds, the router's clock), if it waits.

    A room waiting for its autojoin turn (after a restart, or a bookmark set) has its
    MUC service's next turn: its own comes then, or one ``Config.autojoin_interval`` later
    per join ahead of it in that service's line."""


def view_of(core: Core, account: JID, occupancy: Occupancy) -> OccupancyView:
    """The view of ``occupancy`` now."""
    subject = occupancy.view.subject
    element = None if subject is None else subject.find("subject")
    when = core.timers.when(("state", account, occupancy.room))
    if when is None:
        when = core.autojoins.service_turn(account, occupancy.room)
    return OccupancyView(
        room=occupancy.room,
        state=occupancy.state,
        nick=occupancy.current_nick,
        attached=tuple(occupancy.attached),
        pending=tuple(occupancy.pending),
        occupants=tuple(occupancy.view.occupants),
        subject=None if element is None else element.text or "",
        next_deadline=when,
    )
