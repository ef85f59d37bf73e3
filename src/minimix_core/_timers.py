"""What happens when a deadline passes: IQ timeouts, keep-alive pings, rejoins."""

from __future__ import annotations

from ._actions import Action
from ._core import Core
from ._iq import iq_timeout
from ._keepalive import ping_due, rejoin_due

__all__ = ["run_timers"]


def run_timers(core: Core) -> list[Action]:
    """Run every timer due at ``core.now``, in deadline order.

    Timer keys are ``(kind, account, detail)`` tuples; each kind has one handler.
    """
    actions: list[Action] = []
    for kind, account, detail in core.timers.pop_due(core.now):
        if isinstance(detail, str):
            actions += iq_timeout(core, account, detail)
        elif kind == "ping":
            actions += ping_due(core, account, detail)
        else:
            actions += rejoin_due(core, account, detail)
    return actions
