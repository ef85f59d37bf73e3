"""What happens when a deadline passes: each waiting state's, keep-alive, IQs, grace."""

from __future__ import annotations

from collections.abc import Callable

from ._actions import Action, Deliver
from ._bookmarks import autojoin_due, grace_over
from ._core import Core
from ._iq import iq_timeout
from ._jid import JID
from ._keepalive import ping_due, rejoin_due, rejoin_failed
from ._lifecycle import E, S
from ._membership import leave_answered, leave_room
from ._muc import error_stanza
from ._presence import nick_timeout
from ._sequence import after_nick_change, resync_over
from ._sessions import NO_ENTRIES

__all__ = ["run_timers"]

_S = S
_E = E


def state_deadline(core: Core, account_jid: JID, room: JID) -> list[Action]:
    """The current state waited long enough: the table's ``DEADLINE`` row, or the rejoin."""
    account = core.table.accounts[account_jid]
    occupancy = account.rooms[room]
    state = occupancy.state
    if state is _S.REJOIN_WAIT:
        return rejoin_due(core, account_jid, room)
    if state is _S.REJOIN_SENT:
        return rejoin_failed(core, account, occupancy, _E.DEADLINE, "The room did not answer")
    if state is _S.LEAVING:
        return leave_answered(core, account, occupancy, None, _E.DEADLINE)
    # JOINING: every waiting session learns that the room did not answer (RFC 6120 §8.3.3.17).
    told: list[Action] = []
    for session, attachment in occupancy.pending.items():
        request = occupancy.join_from(account_jid).replace(id=attachment.join_id)
        error = error_stanza(
            request,
            from_=room.with_resource(attachment.nick),
            to=session,
            condition="remote-server-timeout",
            error_type="wait",
        )
        told.append(Deliver(session=session, stanza=error))
        account.unlink(session, room)
    occupancy.pending = NO_ENTRIES
    if account.wanted(room):
        occupancy.attempts += 1
        return told + rejoin_failed(core, account, occupancy, _E.DEADLINE, "")
    # The room may have admitted the account after all: leave, so no ghost stays behind.
    return told + leave_room(core, account, occupancy, None, NO_ENTRIES, _E.DEADLINE)


def _nick_over(core: Core, account_jid: JID, room: JID) -> list[Action]:
    """A nick change unanswered in time; then an ask it put off (``after_nick_change``)."""
    told = nick_timeout(core, account_jid, room)
    account = core.table.accounts[account_jid]
    return told + after_nick_change(core, account, account.rooms[room])


def _forget(core: Core, account: JID, _: JID) -> list[Action]:
    core.forget_memory(account)
    return []


_ROOM_TIMERS: dict[str, Callable[[Core, JID, JID], list[Action]]] = {
    "forget": _forget,
    "state": state_deadline,
    "ping": ping_due,
    "nick": _nick_over,
    "resync": resync_over,
    "grace": grace_over,
}


def run_timers(core: Core) -> list[Action]:
    """Run every timer due at ``core.now``, in deadline order.

    Timer keys are ``(kind, account, detail)`` tuples; each kind has one handler.
    """
    actions: list[Action] = []
    while (due := core.timers.pop_due(core.now)) is not None:
        kind, account, detail = due
        if isinstance(detail, str):
            actions += iq_timeout(core, account, detail)
        else:
            actions += _ROOM_TIMERS[kind](core, account, detail)
    actions += autojoin_due(core)
    return actions
