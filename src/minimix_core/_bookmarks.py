"""Membership that outlives sessions: autojoin bookmarks, the disconnect grace, autojoins.

An autojoin bookmark (XEP-0402) keeps the account in its room while every device sleeps,
so messages reach the account (and push) instead of being lost. When autojoin turns off
or the bookmark goes, the account leaves and every session is told: leave once,
everywhere. A room that removed or refused the account for good is not joined again
until its bookmark changes or a session joins. Joins the router makes on its own are
queued and spread out in time.
"""

from __future__ import annotations

from ._actions import Action
from ._core import Core
from ._events import Bookmark
from ._jid import JID
from ._keepalive import rejoin_due, rejoin_now
from ._lifecycle import OccupancyEvent, OccupancyState
from ._membership import answer_held, leave_room, send_join
from ._muc import MUC, MUC_X
from ._sessions import NO_ENTRIES
from ._stanza import Element, Stanza
from ._table import Account, Occupancy

__all__ = ["autojoin_due", "bookmarks_changed", "grace_over", "leave_everywhere", "queue_join"]


def bookmarks_changed(
    core: Core, account_jid: JID, bookmarks: tuple[Bookmark, ...]
) -> list[Action]:
    """The account's complete bookmark set is now ``bookmarks``."""
    account = core.table.account(account_jid)
    before = account.bookmarks
    wanted = {mark.room.bare: mark for mark in bookmarks if mark.autojoin}
    account.bookmarks = wanted
    # A bookmark that changed since the room refused the account is the user asking again.
    for room, mark in list(account.blocked.items()):
        if wanted.get(room) != mark:
            del account.blocked[room]
    for room in before:
        if room not in wanted:
            core.autojoins.discard(account_jid, room)
    actions: list[Action] = []
    for room, occupancy in list(account.rooms.items()):
        if room in wanted:
            core.timers.cancel(("grace", account_jid, room))
        elif room in before:
            actions += leave_everywhere(core, account, occupancy)
    budget = core.config.max_rooms_per_account - len(account.rooms)
    for room in wanted:
        if room not in account.rooms and account.wanted(room) and budget > 0:
            budget -= 1
            queue_join(core, account_jid, room)
    core.forget_if_idle(account)
    return actions


def leave_everywhere(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """The account leaves; every session in the room gets the room's answer (110)."""
    if occupancy.state is OccupancyState.LEAVING:
        return []
    # Sessions waiting for the end of a rejoin's join sequence whose self-presence came
    # already are answered from the table first, as when the room loses the account again:
    # told they left, they were in. With the rejoin in flight, the room's own answer to it
    # reaches them as they leave, before the answer to the leave (§7.14): not twice.
    joined = occupancy.state is OccupancyState.JOINED
    answered = answer_held(core, account, occupancy) if joined else []
    leaving = {**occupancy.attached, **occupancy.pending}
    occupancy.attached = occupancy.pending = NO_ENTRIES
    return answered + leave_room(core, account, occupancy, None, leaving)


def queue_join(core: Core, account: JID, room: JID) -> None:
    """Join ``room`` for ``account`` when the autojoin queue comes to it."""
    core.autojoins.push(account, room, now=core.now)


def autojoin_due(core: Core) -> list[Action]:
    """The queued joins due now (one per MUC service), each if it is still wanted."""
    actions: list[Action] = []
    for account_jid, room in core.autojoins.pop_due(core.now):
        # A queued join goes with its bookmark or Router.forget; a restored room's stays
        # when the room removes the account first, which may leave nothing of it.
        account = core.table.accounts.get(account_jid)
        if account is None:
            continue
        occupancy = account.rooms.get(room)
        if occupancy is not None:
            actions += _restored(core, account, occupancy)
        elif account.wanted(room) and len(account.rooms) < core.config.max_rooms_per_account:
            actions += _autojoin(core, account, room, account.bookmarks[room])
    return actions


def _restored(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """After a restart, each room hears from the account again: a rejoin or a leave."""
    if not occupancy.restored:
        # Something happened to it meanwhile: the room spoke, a bookmark went, or a device
        # joined (which asked the room at once, _session_side._join).
        return []
    if occupancy.state is OccupancyState.REJOIN_WAIT:
        return rejoin_due(core, account.jid, occupancy.room)
    if account.wanted(occupancy.room):
        # A bookmark set meanwhile keeps the room: join again for what the restart missed,
        # as for a room bookmarked before it, rather than leave it and join it again.
        return rejoin_now(core, account, occupancy)
    # JOINED with nobody and nothing in flight: the room still counts the account.
    return leave_room(core, account, occupancy, None, NO_ENTRIES)


def _autojoin(core: Core, account: Account, room: JID, mark: Bookmark) -> list[Action]:
    nick = mark.nick or account.jid.local or "user"
    inner = () if mark.password is None else (Element(f"{{{MUC}}}password", text=mark.password),)
    join = Stanza(
        "presence",
        from_=account.jid,
        to=room.with_resource(nick),
        id=core.next_id(),
        children=(Element(MUC_X, (), inner),),
    )
    occupancy = Occupancy(room, join)
    core.table.enter(account, occupancy)
    return send_join(core, account, occupancy, OccupancyEvent.AUTOJOIN)


def grace_over(core: Core, account_jid: JID, room: JID) -> list[Action]:
    """Nobody came back within ``disconnect_grace``: the account leaves."""
    # A session's join and a bookmark both cancel this timer: nobody is here.
    account = core.table.accounts[account_jid]
    return leave_room(core, account, account.rooms[room], None, NO_ENTRIES)
