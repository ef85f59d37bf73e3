"""Membership operations shared by both directions: attach, detach, leave, forget."""

from __future__ import annotations

from ._actions import Action, Deliver, Send
from ._config import Config
from ._core import Core
from ._jid import JID
from ._lifecycle import OccupancyEvent, OccupancyState, advance
from ._muc import STATUS_TEXT
from ._presence import aggregate_update
from ._stanza import Stanza
from ._synth import farewell, without_caps
from ._table import Account, Attachment, Occupancy

__all__ = ["detach", "finish", "join_stanza", "last_session_gone", "release", "track_id"]


def join_stanza(account: JID, room: JID, nick: str, request: Stanza) -> Stanza:
    """The account's join: the session's presence sent from the bare JID, caps removed.

    The session's ``id`` and its muc ``<x/>`` (password, history request) are kept.
    """
    return without_caps(request.replace(from_=account, to=room.with_resource(nick)))


def detach(account: Account, occupancy: Occupancy, session: JID) -> Attachment | None:
    """Take ``session`` out of the attached or pending sessions of ``occupancy``.

    A session that also waits for the answer to its own leave stays linked to the room.
    """
    attachment = occupancy.attached.pop(session, None) or occupancy.pending.pop(session, None)
    if attachment is not None and session not in occupancy.leaving:
        account.unlink(session, occupancy.room)
    return attachment


def last_session_gone(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    leave: Stanza | None,
    leaving: dict[JID, Attachment],
) -> list[Action]:
    """The last session went: the account leaves the room (§7.14).

    ``leave`` is the session's own unavailable presence when it left explicitly (its
    ``<status/>`` and ``id`` go to the room); ``leaving`` the sessions that get the room's
    answer (none when the session closed without leaving).
    """
    event = OccupancyEvent.LAST_SESSION_GONE
    if occupancy.state is OccupancyState.REJOINING and not occupancy.rejoin_sent:
        # Waiting to rejoin and nobody left to rejoin for: the room has forgotten us already.
        occupancy.state = advance(occupancy.state, event, OccupancyState.ABSENT)
        finish(core, account, occupancy)
        return []
    occupancy.state = advance(occupancy.state, event, OccupancyState.LEAVING)
    occupancy.leaving = leaving
    for session in leaving:
        account.link(session, occupancy.room)
    children = tuple(leave.findall(STATUS_TEXT)) if leave is not None else ()
    unavailable = Stanza(
        "presence",
        type="unavailable",
        from_=account.jid,
        to=occupancy.room.with_resource(occupancy.current_nick),
        id=leave.id if leave is not None else None,
        children=children,
    )
    return [Send(stanza=unavailable)]


def release(
    core: Core, account: Account, occupancy: Occupancy, session: JID, leave: Stanza | None
) -> list[Action]:
    """``session`` leaves ``occupancy``; ``leave`` is its unavailable, or ``None`` on close.

    A session that leaves while others stay gets its own unavailable self-presence and
    nothing goes to the room; the last one makes the account leave.
    """
    attachment = detach(account, occupancy, session)
    if attachment is None:
        return []
    _remember_position(core, occupancy, session)
    stays = occupancy.attached or occupancy.pending or occupancy.pinned
    if occupancy.state is OccupancyState.LEAVING or stays:
        # The others stay; the account's presence may change without this session's.
        update = aggregate_update(account.jid, occupancy)
        if leave is None:
            return update
        told = [Deliver(session=session, stanza=s) for s in farewell(occupancy, session, leave)]
        return [*told, *update]
    grace = core.config.disconnect_grace
    if leave is None and grace > 0 and occupancy.state is OccupancyState.JOINED:
        # Disconnected, not left: a phone that comes back soon finds the account there.
        core.schedule(("grace", account.jid, occupancy.room), grace)
        return []
    leaving = {session: attachment} if leave is not None else {}
    return last_session_gone(core, account, occupancy, leave, leaving)


def _remember_position(core: Core, occupancy: Occupancy, session: JID) -> None:
    """What a leaving device had seen, so that coming back it gets just what it missed."""
    history = occupancy.history
    if history is None or occupancy.state is not OccupancyState.JOINED:
        return
    positions = occupancy.positions
    positions.pop(session, None)
    positions[session] = (history.last_seq, core.now)
    if len(positions) > core.config.max_sessions_per_room:
        del positions[next(iter(positions))]


def finish(core: Core, account: Account, occupancy: Occupancy) -> None:
    """The account is out of the room: forget the occupancy, its links and its timers."""
    for sessions in (occupancy.attached, occupancy.pending, occupancy.leaving):
        for session in sessions:
            account.unlink(session, occupancy.room)
    occupancy.state = OccupancyState.ABSENT
    del account.rooms[occupancy.room]
    core.timers.cancel(("ping", account.jid, occupancy.room))
    core.timers.cancel(("rejoin", account.jid, occupancy.room))
    core.timers.cancel(("grace", account.jid, occupancy.room))
    core.table.forget_if_empty(account)


def track_id(occupancy: Occupancy, stanza_id: str | None, session: JID, config: Config) -> None:
    """Remember who sent ``stanza_id`` so the room's error for it goes back to that session."""
    if stanza_id is None:
        return
    sent = occupancy.sent_ids
    sent.pop(stanza_id, None)
    sent[stanza_id] = session
    if len(sent) > config.max_tracked_ids:
        del sent[next(iter(sent))]
