"""Membership that outlives sessions: autojoin bookmarks, the disconnect grace, autojoins.

An autojoin bookmark (XEP-0402) keeps the account in its room while every device sleeps,
so messages reach the account (and push) instead of being lost. When autojoin turns off
or the bookmark goes, the account leaves and every session is told: leave once,
everywhere. Joins the router makes on its own are queued and spread out in time.
"""

from __future__ import annotations

from ._actions import Action, Send
from ._core import Core
from ._events import Bookmark
from ._jid import JID
from ._keepalive import rejoin_due
from ._lifecycle import OccupancyEvent, OccupancyState, advance
from ._membership import last_session_gone
from ._muc import MUC, MUC_X
from ._stanza import Element, Stanza
from ._table import Account, Occupancy

__all__ = ["autojoin_due", "bookmarks_changed", "grace_over", "leave_everywhere", "queue_join"]


def bookmarks_changed(
    core: Core, account_jid: JID, bookmarks: tuple[Bookmark, ...]
) -> list[Action]:
    """The account's complete bookmark set is now ``bookmarks``."""
    account = core.table.account(account_jid)
    wanted = {mark.room.bare: mark for mark in bookmarks if mark.autojoin}
    account.bookmarks = wanted
    actions: list[Action] = []
    for room, occupancy in list(account.rooms.items()):
        if room in wanted:
            occupancy.pinned = True
            core.timers.cancel(("grace", account_jid, room))
        elif occupancy.pinned:
            occupancy.pinned = False
            actions += leave_everywhere(core, account, occupancy)
    for room in wanted:
        if room not in account.rooms:
            queue_join(core, account_jid, room)
    core.table.forget_if_empty(account)
    return actions


def leave_everywhere(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """The account leaves; every session in the room gets the room's answer (110)."""
    if occupancy.state is OccupancyState.LEAVING:
        return []
    leaving = {**occupancy.attached, **occupancy.pending}
    occupancy.attached = {}
    occupancy.pending = {}
    return last_session_gone(core, account, occupancy, None, leaving)


def queue_join(core: Core, account: JID, room: JID) -> None:
    """Join ``room`` for ``account`` when the autojoin queue comes to it."""
    core.join_queue[(account, room)] = None
    if core.autojoin_at is None:
        core.autojoin_at = max(core.now, core.last_autojoin + core.config.autojoin_interval)


def autojoin_due(core: Core) -> list[Action]:
    """The next queued join, if it is still wanted; then the next tick."""
    actions: list[Action] = []
    while core.join_queue and not actions:
        account_jid, room = next(iter(core.join_queue))
        del core.join_queue[(account_jid, room)]
        account = core.table.accounts.get(account_jid)
        if account is None:
            continue
        occupancy = account.rooms.get(room)
        if occupancy is not None:
            actions = _restored(core, account, occupancy)
            continue
        mark = account.bookmarks.get(room)
        if mark is not None:
            actions = [Send(stanza=_autojoin(core, account, room, mark))]
    core.last_autojoin = core.now
    core.autojoin_at = core.now + core.config.autojoin_interval if core.join_queue else None
    return actions


def _restored(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """After a restart, each room hears from the account again: a leave or a rejoin."""
    if occupancy.leave_due:
        occupancy.leave_due = False
        to = occupancy.room.with_resource(occupancy.current_nick)
        return [Send(stanza=Stanza("presence", type="unavailable", from_=account.jid, to=to))]
    if occupancy.state is OccupancyState.REJOINING and not occupancy.rejoin_sent:
        return rejoin_due(core, account.jid, occupancy.room)
    return []  # a session joined it again meanwhile


def _autojoin(core: Core, account: Account, room: JID, mark: Bookmark) -> Stanza:
    nick = mark.nick or account.jid.local or "user"
    inner = () if mark.password is None else (Element(f"{{{MUC}}}password", text=mark.password),)
    join = Stanza(
        "presence",
        from_=account.jid,
        to=room.with_resource(nick),
        id=core.next_id(),
        children=(Element(MUC_X, (), inner),),
    )
    occupancy = Occupancy(room, join, nick)
    occupancy.state = advance(OccupancyState.ABSENT, OccupancyEvent.AUTOJOIN)
    occupancy.pinned = True
    account.rooms[room] = occupancy
    return join


def grace_over(core: Core, account_jid: JID, room: JID) -> list[Action]:
    """Nobody came back within ``disconnect_grace``: the account leaves."""
    # A session's join and a bookmark both cancel this timer: nobody is here.
    account = core.table.accounts[account_jid]
    return last_session_gone(core, account, account.rooms[room], None, {})
