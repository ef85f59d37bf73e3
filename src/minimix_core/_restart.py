"""What a process restart means for the router's state.

The sessions are gone, and the rooms still count the account. Each room hears from the
account again, spread over the autojoin queue: a rejoin where an autojoin bookmark keeps
the account, a leave elsewhere. Devices keep their places.
"""

from __future__ import annotations

from ._autojoin import AutojoinQueue
from ._core import Core
from ._jid import JID
from ._lifecycle import OccupancyState
from ._membership import keep_place, remember_position
from ._sessions import NO_ENTRIES

__all__ = ["after_restart"]


def after_restart(core: Core) -> None:
    """Sessions did not survive: rejoin what bookmarks keep, leave the rest, spread out.

    The rooms still count the account as an occupant, so each one hears from it again:
    a rejoin (history since the last message seen, so the buffer has no gap) or a leave.
    """
    core.timers = type(core.timers)()
    queue = core.autojoins.items()
    pace = core.autojoins.pace()
    core.autojoins = AutojoinQueue(core.config.autojoin_interval, core.config.autojoin_intervals)
    for domain, free in pace.items():
        # A service that took a join just before the restart takes the next one no sooner.
        core.autojoins.set_pace(domain, free)
    for account in list(core.table.accounts.values()):
        account.sessions = {}
        account.pending_iqs = NO_ENTRIES
        for room, occupancy in list(account.rooms.items()):
            for session, attachment in occupancy.attached.items():
                # Gone with the process, as if disconnected now: back, it gets what it missed.
                remember_position(core, account, occupancy, session, attachment, restart=True)
            for session, attachment in occupancy.pending.items():
                # Waiting to get back in, it has what it had when it left: its place.
                keep_place(core, account, room, session, attachment)
            occupancy.attached = occupancy.pending = occupancy.leaving = NO_ENTRIES
            occupancy.nick_change = None
            occupancy.sent_ids = None
            occupancy.ping_id = None
            occupancy.ping_at = None
            occupancy.resync = None
            # Withheld for sessions gone with the process: a device back gets them by its
            # place; their push is lost with the process (a restore sends nothing).
            occupancy.withheld = ()
            in_room = occupancy.view.self_presence is not None
            if (
                not in_room
                and occupancy.state is OccupancyState.JOINING
                and not account.wanted(room)
            ):
                # Its join is on its way and nobody wants it now, but the room may admit it
                # yet: its answer, or its deadline, makes the account leave.
                core.schedule(("state", account.jid, room), core.config.join_timeout)
                continue
            if occupancy.state in (OccupancyState.JOINING, OccupancyState.REJOIN_SENT):
                occupancy.unanswered(occupancy.join_id)  # the room may answer it yet
            elif occupancy.state is OccupancyState.LEAVING:
                occupancy.unanswered(occupancy.request_id)  # the leave on its way
            occupancy.request_id = None
            occupancy.restored = True
            if occupancy.state is OccupancyState.LEAVING:
                occupancy.attempts = 0  # the leave said once more: no rejoin try
            if account.wanted(room):
                # The queue says when. Never in, its join was in flight: it is made again
                # as first made, and the room's late answer to it is told apart by its id.
                occupancy.state = OccupancyState.REJOIN_WAIT
            elif in_room:
                occupancy.state = OccupancyState.JOINED  # until the queue makes it leave
            else:
                core.table.leave(account, room)  # its join was in flight, nobody wants it now
                continue
            _queue(core, account.jid, room)
        core.forget_if_idle(account)
    for account_jid, room in queue:
        _queue(core, account_jid, room)


def _queue(core: Core, account: JID, room: JID) -> None:
    core.autojoins.push(account, room, now=core.now)
