"""The autojoin queue under random pushes, removals, clock steps and restores, against a
plain model: every queued join leaves once, in push order per service, at the pace."""

from __future__ import annotations

import copy
import math

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from minimix_core import JID
from minimix_core._autojoin import CATCH_UP, AutojoinQueue

ACCOUNTS = [JID.parse(f"u{n}@example.org") for n in range(3)]
SERVICES = {"muc.one.example": 0.5, "muc.two.example": 0.3, "muc.slow.example": 2.5}
ROOMS = [JID.parse(f"r{n}@{domain}") for domain in SERVICES for n in range(4)]
EPSILON = 1e-6


class QueueModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.queue = AutojoinQueue(0.5, {"muc.two.example": 0.3, "muc.slow.example": 2.5})
        self.now = 1_000.0
        # Per service: the memberships waiting, in push order.
        self.lines: dict[str, list[tuple[JID, JID]]] = {d: [] for d in SERVICES}
        self.taken: dict[str, list[float]] = {d: [] for d in SERVICES}

    @rule(account=st.sampled_from(ACCOUNTS), room=st.sampled_from(ROOMS))
    def push(self, account: JID, room: JID) -> None:
        self.queue.push(account, room, now=self.now)
        line = self.lines[room.domain]
        if (account, room) not in line:
            line.append((account, room))

    @rule(account=st.sampled_from(ACCOUNTS), room=st.sampled_from(ROOMS))
    def discard(self, account: JID, room: JID) -> None:
        self.queue.discard(account, room)
        line = self.lines[room.domain]
        if (account, room) in line:
            line.remove((account, room))

    @rule(account=st.sampled_from(ACCOUNTS))
    def forget(self, account: JID) -> None:
        self.queue.forget(account)
        for line in self.lines.values():
            line[:] = [m for m in line if m[0] != account]

    @rule(step=st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.5, 0.7, 1.0, 2.5, 7.0]))
    def tick(self, step: float) -> None:
        self.now += step
        self._pop()

    @rule(step=st.sampled_from([0.1, 0.4, 0.9, 3.0]))
    def stall(self, step: float) -> None:
        """Time passes and the host does not call: joins wait past their turns."""
        self.now += step

    @precondition(lambda self: self.queue.next_deadline() is not None)
    @rule(late=st.sampled_from([0.0, 0.0001, 0.2]))
    def on_time(self, late: float) -> None:
        deadline = self.queue.next_deadline()
        assert deadline is not None
        self.now = max(self.now, deadline + late)
        assert self._pop(), "a call at the deadline takes a join"

    @rule()
    def restore(self) -> None:
        """What a snapshot keeps (sessions=True): the lines, each service's pace and turn."""
        at = self.queue.next_deadline()
        fresh = AutojoinQueue(0.5, {"muc.two.example": 0.3, "muc.slow.example": 2.5})
        for domain, free in self.queue.pace().items():
            fresh.set_pace(domain, free)
        turns = self.queue.turns()
        for account, room in self.queue.items():
            fresh.push(account, room, now=turns.get(room.domain, self.now if at is None else at))
        # Both take the same joins at the same times from here on.
        original, twin = copy.deepcopy(self.queue), copy.deepcopy(fresh)
        for step in (0.0, 0.1, 0.35, 0.5, 1.2, 3.0):
            assert twin.pop_due(self.now + step) == original.pop_due(self.now + step)
            assert twin.next_deadline() == original.next_deadline()
        self.queue = fresh

    def _pop(self) -> list[tuple[JID, JID]]:
        due = self.queue.pop_due(self.now)
        per: dict[str, int] = {}
        for membership in due:
            domain = membership[1].domain
            line = self.lines[domain]
            assert line and line[0] == membership, "joins of one service leave in push order"
            line.pop(0)
            per[domain] = per.get(domain, 0) + 1
            self.taken[domain].append(self.now)
        for domain, count in per.items():
            burst = math.floor(CATCH_UP / SERVICES[domain] + EPSILON) + 1
            assert count <= burst, f"{domain}: {count} joins at once"
        deadline = self.queue.next_deadline()
        assert deadline is None or deadline > self.now, "nothing due is left behind"
        return due

    @invariant()
    def matches_the_model(self) -> None:
        assert len(self.queue) == sum(map(len, self.lines.values()))
        assert (self.queue.next_deadline() is None) == (len(self.queue) == 0)
        for domain, line in self.lines.items():
            assert [m for m in self.queue.items() if m[1].domain == domain] == line

    @invariant()
    def the_pace_holds(self) -> None:
        # Over any stretch, a service takes no more than the stretch and one catch-up allow.
        for domain, times in self.taken.items():
            interval = SERVICES[domain]
            for i, start in enumerate(times):
                for j in range(i + 1, len(times)):
                    span = times[j] - start
                    allowed = math.floor((span + CATCH_UP) / interval + EPSILON) + 1
                    assert j - i + 1 <= allowed, f"{domain}: {times[i : j + 1]}"


TestQueueModel = QueueModel.TestCase
