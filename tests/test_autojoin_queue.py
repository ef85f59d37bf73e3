"""The autojoin queue: one join per MUC service per interval, nothing that scans the queue."""

from __future__ import annotations

import copy
import heapq
import pickle
from collections import OrderedDict
from typing import Any

import attrs
import pytest

from minimix_core import JID, Config
from minimix_core._autojoin import AutojoinQueue

ALICE = JID.parse("alice@example.org")
BOB = JID.parse("bob@example.org")


def room(name: str, service: str = "muc.one.example") -> JID:
    return JID.parse(f"{name}@{service}")


def test_one_join_per_service_per_interval_in_push_order() -> None:
    """Each service has its own line and its own rate; services do not wait for each other."""
    queue = AutojoinQueue(interval=1.0)
    queue.push(ALICE, room("a"), now=100.0)
    queue.push(ALICE, room("b"), now=100.0)
    queue.push(BOB, room("c", "muc.two.example"), now=100.0)
    queue.push(BOB, room("a"), now=100.0)
    assert len(queue) == 4
    assert queue.next_deadline() == 100.0
    assert queue.pop_due(100.0) == [(ALICE, room("a")), (BOB, room("c", "muc.two.example"))]
    assert queue.next_deadline() == 101.0
    assert queue.pop_due(100.9) == []
    assert queue.pop_due(101.0) == [(ALICE, room("b"))]
    assert queue.pop_due(103.5) == [(BOB, room("a"))]  # late: its turn (102) has come
    assert queue.next_deadline() is None
    assert len(queue) == 0
    assert queue.pop_due(1e9) == []


def test_an_idle_service_keeps_its_rate_and_is_due_at_once_after_it() -> None:
    """A push soon after a service's last join waits for the interval; a later one does not."""
    queue = AutojoinQueue(interval=2.0)
    queue.push(ALICE, room("a"), now=10.0)
    assert queue.pop_due(10.0) == [(ALICE, room("a"))]
    queue.push(ALICE, room("b"), now=11.0)
    assert queue.next_deadline() == 12.0
    assert queue.pop_due(12.0) == [(ALICE, room("b"))]
    queue.push(ALICE, room("c"), now=50.0)
    assert queue.next_deadline() == 50.0
    queue.discard(ALICE, room("c"))
    queue.push(ALICE, room("c"))  # without the time: due at once (the last turn was 14.0)
    assert queue.next_deadline() == 14.0
    fresh = AutojoinQueue(interval=2.0)
    fresh.push(ALICE, room("a"))
    assert fresh.next_deadline() == float("-inf")
    assert fresh.interval == 2.0


def test_a_queued_membership_keeps_its_place() -> None:
    queue = AutojoinQueue(interval=1.0)
    queue.push(ALICE, room("a"), now=0.0)
    queue.push(ALICE, room("b"), now=0.0)
    queue.push(ALICE, room("a"), now=0.0)
    assert queue.items() == [(ALICE, room("a")), (ALICE, room("b"))]
    assert len(queue) == 2


def test_discard_forget_contains_and_items() -> None:
    """``items()`` lists services by their next turn, each line in order."""
    queue = AutojoinQueue(interval=1.0)
    queue.push(ALICE, room("a", "muc.two.example"), now=5.0)
    queue.push(ALICE, room("b"), now=6.0)
    queue.push(BOB, room("c"), now=6.0)
    queue.push(BOB, room("d", "muc.two.example"), now=6.0)
    assert (ALICE, room("b")) in queue
    assert (BOB, room("b")) not in queue
    assert (ALICE,) not in queue
    assert "alice" not in queue
    assert queue.items() == [
        (ALICE, room("a", "muc.two.example")),
        (BOB, room("d", "muc.two.example")),
        (ALICE, room("b")),
        (BOB, room("c")),
    ]
    assert list(queue) == queue.items()
    queue.discard(ALICE, room("b"))
    queue.discard(ALICE, room("b"))  # not queued: nothing happens
    queue.discard(JID.parse("carol@example.org"), room("b"))
    assert (ALICE, room("b")) not in queue
    queue.forget(BOB)
    queue.forget(BOB)
    assert queue.items() == [(ALICE, room("a", "muc.two.example"))]
    assert queue.next_deadline() == 5.0
    queue.forget(ALICE)
    assert len(queue) == 0
    assert queue.next_deadline() is None  # the emptied services' turns are skipped
    assert queue.items() == []


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        AutojoinQueue(interval=0.0)


def rooms(due: list[tuple[JID, JID]]) -> list[str | None]:
    return [r.local for _, r in due]


def test_a_late_call_takes_every_turn_that_came_and_a_stall_at_most_a_second_s() -> None:
    """The pace is counted from a service's first turn, not from when the host calls: a
    host that calls late loses no time, and one that stalled gets at most the turns of the
    last second (CATCH_UP) in one burst, then the pace again."""
    queue = AutojoinQueue(interval=0.5)
    for n in range(12):
        queue.push(ALICE, room(f"r{n}"), now=0.0)
    queue.push(BOB, room("x", "muc.two.example"), now=0.0)
    assert rooms(queue.pop_due(0.0)) == ["r0", "x"]
    assert queue.next_deadline() == 0.5
    assert rooms(queue.pop_due(1.2)) == ["r1", "r2"]  # turns 0.5 and 1.0
    assert queue.next_deadline() == 1.5
    assert rooms(queue.pop_due(10.0)) == ["r3", "r4", "r5"]  # turns 9.0, 9.5 and 10.0
    assert queue.next_deadline() == 10.5
    assert queue.pace() == {"muc.one.example": 10.5, "muc.two.example": 0.5}
    assert rooms(queue.pop_due(10.5)) == ["r6"]


def test_a_service_given_its_own_interval_takes_joins_at_its_own_pace() -> None:
    """Config.autojoin_intervals: the server's own service at 0.25 s, the others at 1 s."""
    queue = AutojoinQueue(interval=1.0, intervals={"muc.two.example": 0.25})
    for name in ("a", "b", "c"):
        queue.push(ALICE, room(name), now=0.0)
        queue.push(ALICE, room(name, "muc.two.example"), now=0.0)
    taken = {at: queue.pop_due(at) for at in (0.0, 0.25, 0.5, 1.0, 2.0)}
    assert taken == {
        0.0: [(ALICE, room("a")), (ALICE, room("a", "muc.two.example"))],
        0.25: [(ALICE, room("b", "muc.two.example"))],
        0.5: [(ALICE, room("c", "muc.two.example"))],
        1.0: [(ALICE, room("b"))],
        2.0: [(ALICE, room("c"))],
    }
    with pytest.raises(ValueError, match="positive"):
        AutojoinQueue(interval=1.0, intervals={"muc.two.example": 0.0})


def test_a_service_s_own_interval_is_keyed_by_its_domain_as_room_jids_carry_it() -> None:
    config = Config(autojoin_intervals={"MUC.Example.org.": 1, "muc.two.example": 0.5})
    assert dict(config.autojoin_intervals) == {"muc.example.org": 1.0, "muc.two.example": 0.5}
    assert Config().autojoin_intervals == {}
    assert config == Config(autojoin_intervals={"muc.example.org": 1.0, "muc.two.example": 0.5})
    assert hash(config) == hash(Config())  # settable as a key, like the rest of Config
    with pytest.raises(TypeError, match="does not support item assignment"):
        config.autojoin_intervals["muc.example.org"] = 5.0  # type: ignore[index]
    for wrong, error, says in (
        (["muc.example.org"], TypeError, "must map MUC domains to seconds"),
        ({1: 1.0}, TypeError, "a MUC domain is text"),
        ({"room@muc.example.org": 1.0}, ValueError, "is not a domain"),
        ({"muc.example.org/x": 1.0}, ValueError, "is not a domain"),
        ({"": 1.0}, ValueError, "is not a domain"),
        ({"muc.example.org": "1"}, TypeError, "must be seconds"),
        ({"muc.example.org": True}, TypeError, "must be seconds"),
        ({"muc.example.org": 0}, ValueError, "must be finite seconds over 0"),
        ({"muc.example.org": float("nan")}, ValueError, "must be finite seconds over 0"),
        ({"muc.example.org": float("inf")}, ValueError, "must be finite seconds over 0"),
        ({"muc.example.org": 1, "MUC.example.org.": 2}, ValueError, "a second time"),
    ):
        with pytest.raises(error, match=says):
            Config(autojoin_intervals=wrong)  # type: ignore[arg-type]


def test_a_config_with_services_own_intervals_copies_and_pickles() -> None:
    """Config is a value: deep-copied or pickled (a host handing it to a worker process),
    it comes back equal, its intervals still read-only."""
    for config in (
        Config(),
        Config(autojoin_interval=2.0, autojoin_intervals={"MUC.Example.org": 0.5}),
    ):
        for again in (copy.deepcopy(config), pickle.loads(pickle.dumps(config))):
            assert again == config
            assert hash(again) == hash(config)
            assert again.autojoin_intervals == config.autojoin_intervals
            with pytest.raises(TypeError, match="does not support item assignment"):
                again.autojoin_intervals["muc.example.org"] = 5.0  # type: ignore[index]
    assert dict(pickle.loads(pickle.dumps(config)).autojoin_intervals) == {"muc.example.org": 0.5}
    assert attrs.evolve(config, autojoin_interval=1.0).autojoin_intervals == {
        "muc.example.org": 0.5
    }
    assert "autojoin_intervals={'muc.example.org': 0.5}" in repr(config)


def test_the_default_pace_is_finite_seconds_too() -> None:
    """A pace of infinity would take one join and never another, and breaks JSON snapshots."""
    with pytest.raises(ValueError, match="autojoin_interval must be finite seconds"):
        Config(autojoin_interval=float("inf"))
    with pytest.raises(ValueError, match=r"must be > 0\.0"):
        Config(autojoin_interval=0)


def test_memberships_on_a_hundred_services_rejoin_in_the_time_the_guide_gives() -> None:
    """The arithmetic of docs/operations.rst, run at 1/100 of the size.

    n memberships spread evenly over s services finish at (n/s - 1) * interval after the
    first: 10,000 over 100 at 0.2 s take 19.8 s; 1,000,000 take 1,999.8 s (33 minutes).
    """
    queue = AutojoinQueue(interval=0.2)
    services = [f"muc{s}.example" for s in range(100)]
    for n in range(10_000):
        queue.push(JID("user", f"{n}.example"), room("r", services[n % 100]), now=0.0)
    now, joins, last = 0.0, 0, 0.0
    while (deadline := queue.next_deadline()) is not None:
        now = max(now, deadline)
        due = queue.pop_due(now)
        assert len({r.domain for _, r in due}) == len(due)  # one per service
        joins += len(due)
        last = now
    assert joins == 10_000
    assert last == pytest.approx(99 * 0.2)


class Counting:
    """Counts the heap operations and the line operations the queue makes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.heap = 0
        self.line = 0
        counting = self

        class Line(OrderedDict[Any, None]):
            def __delitem__(self, key: Any) -> None:
                counting.line += 1
                super().__delitem__(key)

            def popitem(self, last: bool = True) -> tuple[Any, None]:
                counting.line += 1
                return super().popitem(last)

        def push(heap: list[Any], item: Any) -> None:
            self.heap += 1
            heapq.heappush(heap, item)

        def pop(heap: list[Any]) -> Any:
            self.heap += 1
            return heapq.heappop(heap)

        monkeypatch.setattr("minimix_core._autojoin.OrderedDict", Line)
        monkeypatch.setattr("minimix_core._autojoin.heappush", push)
        monkeypatch.setattr("minimix_core._autojoin.heappop", pop)

    def reset(self) -> tuple[int, int]:
        counts = (self.heap, self.line)
        self.heap = self.line = 0
        return counts


def test_operations_do_not_grow_with_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same steps cost the same operations with 10 or 10,000 joins queued per service."""
    counting = Counting(monkeypatch)
    costs = []
    for per_service in (10, 10_000):
        queue = AutojoinQueue(interval=1.0)
        for s in range(10):
            for n in range(per_service):
                queue.push(JID(f"u{n}", "example.org"), room(f"r{s}", f"muc{s}.example"), now=0.0)
        queue.push(ALICE, room("a", "muc0.example"), now=0.0)
        queue.push(ALICE, room("b", "muc1.example"), now=0.0)
        counting.reset()
        step: list[object] = []
        step.append(len(queue.pop_due(0.0)))  # one per service: 10 pops, 10 pushes
        step.append(counting.reset())
        queue.discard(JID("u5", "example.org"), room("r3", "muc3.example"))
        step.append(counting.reset())
        queue.forget(ALICE)
        step.append(counting.reset())
        queue.push(BOB, room("z", "muc9.example"), now=0.0)
        step.append(counting.reset())
        step.append(queue.next_deadline() is not None)
        step.append(counting.reset())
        costs.append(step)
    assert costs[0] == costs[1] == [10, (20, 10), (0, 1), (0, 2), (0, 0), True, (0, 0)]


def test_the_pace_of_each_service_survives_a_snapshot() -> None:
    """A service that just took a join keeps its interval in a queue rebuilt from pace()."""
    queue = AutojoinQueue(interval=1.0)
    alice = JID.parse("alice@example.org")
    queue.push(alice, JID.parse("a@muc.one.example"), now=0.0)
    queue.push(alice, JID.parse("b@muc.one.example"), now=0.0)
    assert len(queue.pop_due(0.0)) == 1
    assert queue.pace() == {"muc.one.example": 1.0}
    again = AutojoinQueue(interval=1.0)
    again.push(alice, JID.parse("c@muc.one.example"), now=0.0)  # the service exists already
    for domain, free in queue.pace().items():
        again.set_pace(domain, free)
    again.set_pace("muc.two.example", 5.0)
    again.push(alice, JID.parse("d@muc.two.example"), now=0.0)
    assert again.next_deadline() == 0.0  # c's turn was set before the pace came back
    assert [str(r) for _, r in again.pop_due(0.0)] == ["c@muc.one.example"]
    assert again.next_deadline() == 5.0
