"""The router's hot paths held to its general paths: logs played through both.

``Router.handle`` takes two hot paths: ``room_message`` for an occupant's groupchat message
to an account in the room, and ``session_join`` for a session's presence to a room (a join
of a room the account is in, answered from the table). Each does in one frame what the
general path does for the common case, and hands anything else to it. A log played through
the router as it is and through one whose hot paths are the general paths must give equal
actions at every step and equal snapshots at the end.
"""

from __future__ import annotations

import functools
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from minimix_core import JID, Action, Config, Event, FromSession, Router, Stanza, ToAccount
from minimix_core import _room_side as room_side
from minimix_core import _router as router_module
from minimix_core import _session_side as session_side
from minimix_core._replay import restored as restored_from
from minimix_core._table import Account, Occupancy
from minimix_core.testing._chaos import CONFIG, play, random_ops, story_faults

Log = list[tuple[float, Event | str | None]]
"""``(seconds, event)``; ``None`` runs the timers, a string restores the router."""


@contextmanager
def general_path() -> Iterator[None]:
    """The router with its hot paths replaced by what the general paths did without them."""

    def message(
        core: Any, account: Account, occupancy: Occupancy, stanza: Stanza, nick: str
    ) -> Any:
        assert stanza.from_ is not None
        return room_side._message(core, account, occupancy, stanza, stanza.from_)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(router_module, "room_message", message)
        patch.setattr(router_module, "session_join", session_side.from_session)
        yield


def run(log: Log, router: Router) -> tuple[list[list[Action]], Router]:
    """Each step's actions, and the router at the end (a restore replaces it)."""
    steps = []
    for now, event in log:
        if event is None:
            steps.append(router.handle_timer(now))
        elif isinstance(event, str):
            router = restored_from(router, now, sessions=event != "restore")
            steps.append([])
        else:
            steps.append(router.handle(event, now=now))
    return steps, router


def assert_same(log: Log, make: Callable[[], Router]) -> None:
    """``log`` through both paths: equal actions at every step, equal snapshots after."""
    ours, router = run(log, make())
    with general_path():
        theirs, reference = run(log, make())
    for step, (mine, expected) in enumerate(zip(ours, theirs, strict=True)):
        assert mine == expected, f"step {step}: {log[step]}"
    assert router.snapshot() == reference.snapshot()


@functools.cache
def story_logs(count: int = 30) -> tuple[Log, ...]:
    """The events of ``count`` seeded fault stories (``CONFIG``), as far as each got."""
    logs = []
    for seed in range(count):
        rng = random.Random(seed)
        story, _ = play(random_ops(rng, 60), seed, story_faults(rng), config=CONFIG)
        logs.append(story.log)
    return tuple(logs)


Cases = dict[str, tuple[Callable[[], Router], Log]]
"""Logs by name, each with how to make the router it is played through."""


def assert_every_way_taken(
    counting: Callable[[Counter[str]], AbstractContextManager[None]],
    cases: Cases,
    reasons: tuple[str, ...],
) -> None:
    """``cases`` and the fault stories take a hot path to its end and each way off it.

    ``counting`` counts, by name, the way each call of the hot path takes: ``"hot"`` or
    one of ``reasons``. The stories reach what they can; the cases what they cannot.
    """
    ways: Counter[str] = Counter()
    with counting(ways):
        for make, log in cases.values():
            run(log, make())
        for log in story_logs():
            run(log, Router(CONFIG))
    assert set(ways) == {"hot", *reasons}, ways


def room(stanza: Stanza, at: float = 0.0) -> tuple[float, Event]:
    return at, ToAccount(stanza=stanza)


def session(device: JID, stanza: Stanza, at: float = 0.0) -> tuple[float, Event]:
    return at, FromSession(session=device, stanza=stanza)


def restored(snapshot: dict[str, Any], *, sessions: bool = True) -> Callable[[], Router]:
    """Routers restored from ``snapshot``, each from its own copy."""
    return lambda: Router.restore(json.loads(json.dumps(snapshot)), now=0.0, sessions=sessions)


def built(log: Log, config: Config | None = None) -> dict[str, Any]:
    """The snapshot of a router that played ``log``."""
    return run(log, Router(config or Config()))[1].snapshot()
