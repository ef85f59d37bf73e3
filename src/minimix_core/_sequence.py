"""The end of a join sequence the router waits out, and the join once more it may need.

A room ends a join sequence with its subject (XEP-0045 §7.2.15); for a rejoin's, or a
join's that an earlier join's answer came into, ``Config.resync_timeout`` ends it too.
Then, if an earlier answer came, the account asks the room again (``earlier-answer``):
not between a nick change and its answer.
"""

from __future__ import annotations

from ._actions import Action
from ._core import Core
from ._jid import JID
from ._keepalive import rejoin_after_earlier_answer
from ._lifecycle import S
from ._membership import answer_held
from ._table import Account, Occupancy

__all__ = ["after_nick_change", "asked_again", "resync_over"]

_S = S


def resync_over(core: Core, account_jid: JID, room: JID) -> list[Action]:
    """The join sequence the router waited out is over: what the room sends now is news.

    A rejoin's sequence (its subject, or ``Config.resync_timeout``), or a join's that an
    earlier join's answer came into. The sessions that joined meanwhile get their answer
    now (:func:`answer_held`).
    """
    account = core.table.accounts[account_jid]
    occupancy = account.rooms[room]
    occupancy.resync = None
    answered = answer_held(core, account, occupancy)
    return answered + asked_again(core, account, occupancy)


def asked_again(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """The join sequence that let the account in is over: ask the room again if need be.

    That is when an earlier join's answer came meanwhile (:attr:`Occupancy.interleaved`).
    """
    core.timers.cancel(("resync", account.jid, occupancy.room))  # the sequence is over
    if not occupancy.interleaved or occupancy.state is not _S.JOINED:
        return []
    if occupancy.nick_change is not None:
        # Not between a nick change and its answer (as the keep-alive, XEP-0410 §4): the
        # answer would be taken for the join's. Asked once the change is over (it has a
        # deadline): after_nick_change.
        return []
    if not occupancy.attached and not account.wanted(occupancy.room):
        return []  # nobody to show them to: a device back first asks (_session_side._join)
    return rejoin_after_earlier_answer(core, account, occupancy)


def after_nick_change(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """A nick change is over (answered, refused, timed out): an ask it put off goes now.

    Only once the join sequence is over (:func:`asked_again`); until then its end asks.
    """
    if core.timers.when(("resync", account.jid, occupancy.room)) is not None:
        return []
    return asked_again(core, account, occupancy)
