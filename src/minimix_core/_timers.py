"""What happens when a deadline passes: IQ timeouts, keep-alive pings, rejoins."""

from __future__ import annotations

from collections.abc import Callable

from ._actions import Action
from ._bookmarks import autojoin_due, grace_over
from ._core import Core
from ._iq import iq_timeout
from ._jid import JID
from ._keepalive import ping_due, rejoin_due

_ROOM_TIMERS: dict[str, Callable[[Core, JID, JID], list[Action]]] = {
    "ping": ping_due,
    "rejoin": rejoin_due,
    "grace": grace_over,
}

__all__ = ["run_timers"]


def run_timers(core: Core) -> list[Action]:
    """Run every timer due at ``core.now``, in deadline order.

    Timer keys are ``(kind, account, detail)`` tuples; each kind has one handler.
    """
    actions: list[Action] = []
    for kind, account, detail in core.timers.pop_due(core.now):
        if isinstance(detail, str):
            actions += iq_timeout(core, account, detail)
        else:
            actions += _ROOM_TIMERS[kind](core, account, detail)
    if core.autojoin_at is not None and core.autojoin_at <= core.now:
        actions += autojoin_due(core)
    return actions
