"""Joins the router makes on its own (bookmarks, restarts), spread out per MUC service.

A server restarting with a million autojoin memberships must not send a million join
presences in one burst, and must not make one MUC service the bottleneck of every other.
The :class:`AutojoinQueue` keeps one line per service (the room JID's domain, which is
what a MUC service is, XEP-0045 §2) and lets each service take one join per interval;
services are independent, so 100 services rejoin 100 times as fast as one.

Every operation costs O(1) or O(log s), s the number of services with joins waiting,
except :meth:`AutojoinQueue.forget`, which costs the number of joins the account has
queued: nothing walks the whole queue.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from heapq import heappop, heappush
from typing import Final

from ._jid import JID

__all__ = ["CATCH_UP", "AutojoinQueue"]

CATCH_UP: Final = 1.0
"""Seconds of turns a late :meth:`AutojoinQueue.pop_due` makes up for at most."""

Membership = tuple[JID, JID]
"""``(account, room)``: both bare JIDs."""


class _Service:
    """One MUC service's line of joins and when it may take the next one."""

    __slots__ = ("free", "interval", "line", "token", "turn")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        """Seconds between two of its joins."""
        # An OrderedDict: its oldest entry leaves in O(1), and so does any other.
        self.line: OrderedDict[Membership, None] = OrderedDict()
        self.free = -math.inf
        """The earliest time its rate allows the next join: the last one plus the interval."""
        self.turn = -math.inf
        """When its next join is due (POSIX seconds), while its line is not empty."""
        self.token = 0
        """The sequence number of this service's live heap entry; 0 while its line is empty."""


class AutojoinQueue:
    """Joins waiting to be made, one per MUC service every ``interval`` seconds.

    ``interval`` is ``Config.autojoin_interval``; ``intervals`` (``Config.autojoin_intervals``)
    gives some services, by domain, their own. Joins to one service leave in the order
    they were pushed; services whose turns fall at the same time take them in the order
    their turns were set, so a run replays exactly.

    >>> queue = AutojoinQueue(interval=0.5)
    >>> alice = JID.parse("alice@example.org")
    >>> for room in ("a@muc.one.example", "b@muc.one.example", "c@muc.two.example"):
    ...     queue.push(alice, JID.parse(room), now=10.0)
    >>> [str(room) for _, room in queue.pop_due(10.0)]
    ['a@muc.one.example', 'c@muc.two.example']
    >>> queue.next_deadline(), len(queue)
    (10.5, 1)
    """

    __slots__ = ("_accounts", "_count", "_heap", "_interval", "_intervals", "_seq", "_services")

    def __init__(self, interval: float, intervals: Mapping[str, float] | None = None) -> None:
        for seconds in (interval, *(intervals or {}).values()):
            if not seconds > 0:
                raise ValueError(f"interval must be positive seconds, not {seconds!r}")
        self._interval = float(interval)
        self._intervals = dict(intervals or {})
        self._services: dict[str, _Service] = {}
        # (ready, sequence, service domain): one live entry per service with joins waiting;
        # entries of services emptied since are skipped when they reach the top.
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._accounts: dict[JID, dict[JID, None]] = {}
        """Rooms each account has queued: what :meth:`forget` removes, without a scan."""
        self._count = 0

    @property
    def interval(self) -> float:
        """Seconds between two joins to the same MUC service (one not given its own)."""
        return self._interval

    def _service(self, domain: str) -> _Service:
        service = self._services.get(domain)
        if service is None:
            service = self._services[domain] = _Service(self._intervals.get(domain, self._interval))
        return service

    def __len__(self) -> int:
        return self._count

    def __contains__(self, membership: object) -> bool:
        if not isinstance(membership, tuple) or len(membership) != 2:
            return False
        account, room = membership
        rooms = self._accounts.get(account)
        return rooms is not None and room in rooms

    def _schedule(self, domain: str, service: _Service, turn: float) -> None:
        self._seq += 1
        service.turn = turn
        service.token = self._seq
        heappush(self._heap, (turn, self._seq, domain))

    def push(self, account: JID, room: JID, *, now: float | None = None) -> None:
        """Queue a join of ``room`` for ``account`` (bare JIDs) at the end of its service's line.

        A membership already queued keeps its place. ``now``: the current time, so that a
        service idle for a while is due at ``now`` rather than at its last join plus the
        interval (without it, such a join is due at once: :meth:`next_deadline` may be
        in the past).
        """
        rooms = self._accounts.setdefault(account, {})
        if room in rooms:
            return
        rooms[room] = None
        domain = room.domain
        service = self._service(domain)
        if not service.line:
            self._schedule(domain, service, service.free if now is None else max(service.free, now))
        service.line[(account, room)] = None
        self._count += 1

    def _remove(self, account: JID, room: JID) -> None:
        service = self._services[room.domain]
        del service.line[(account, room)]
        self._count -= 1
        if not service.line:
            service.token = 0  # its heap entry is now stale

    def discard(self, account: JID, room: JID) -> None:
        """Drop the queued join of ``room`` for ``account``, if there is one."""
        rooms = self._accounts.get(account)
        if rooms is None or room not in rooms:
            return
        del rooms[room]
        if not rooms:
            del self._accounts[account]
        self._remove(account, room)

    def forget(self, account: JID) -> None:
        """Drop every join queued for ``account`` (it left the router, or moved)."""
        for room in self._accounts.pop(account, ()):
            self._remove(account, room)

    def _top(self) -> tuple[float, int, str] | None:
        heap, services = self._heap, self._services
        while heap:
            top = heap[0]
            if services[top[2]].token == top[1]:
                return top
            heappop(heap)
        return None

    def next_deadline(self) -> float | None:
        """When the next join is due (POSIX seconds), or ``None`` when nothing is queued."""
        top = self._top()
        return None if top is None else top[0]

    def pop_due(self, now: float) -> list[Membership]:
        """The joins due at ``now``, removed, service after service by their turns.

        A service's turns are its interval apart, counted from its first: a call on time
        (at :meth:`next_deadline`) takes one join from it, a late call every join whose
        turn has come, so the pace holds however often the host calls. After a longer
        stall, at most the turns of the last ``CATCH_UP`` seconds are taken at once: a
        service never gets more than a second's worth of its rate in one burst.
        """
        due: list[Membership] = []
        while True:
            top = self._top()
            if top is None or top[0] > now:
                return due
            heappop(self._heap)
            domain = top[2]
            service = self._services[domain]
            line, interval = service.line, service.interval
            turn = max(top[0], now - CATCH_UP)
            while line and turn <= now:
                membership, _ = line.popitem(last=False)
                account, room = membership
                rooms = self._accounts[account]
                del rooms[room]
                if not rooms:
                    del self._accounts[account]
                self._count -= 1
                due.append(membership)
                turn += interval
            service.free = turn
            if line:
                self._schedule(domain, service, turn)
            else:
                service.token = 0

    def service_turn(self, account: JID, room: JID) -> float | None:
        """When the line holding ``account``'s join of ``room`` takes its next join.

        ``None`` when that join is not queued. Its own turn may come later: one interval
        per join ahead of it in its service's line.
        """
        if (account, room) not in self:
            return None
        return self._services[room.domain].turn

    def pace(self) -> dict[str, float]:
        """When each MUC service may take its next join (for snapshots), by domain.

        Only services whose rate still holds one back after its last join are listed.
        """
        return {d: s.free for d, s in self._services.items() if s.free != -math.inf}

    def turns(self) -> dict[str, float]:
        """When each MUC service with joins waiting takes its next one (for snapshots).

        A turn may have passed (the host calls late); pushing a service's line back with
        ``now`` at its turn gives it the same turn, so a late call takes the same joins.
        """
        return {d: s.turn for d, s in self._services.items() if s.line}

    def set_pace(self, domain: str, free: float) -> None:
        """Restore :meth:`pace` for ``domain`` (before its joins are pushed)."""
        self._service(domain).free = free

    def items(self) -> list[Membership]:
        """Every queued join (for snapshots): services by their next turn, each line in order.

        Pushing them in this order into a new queue gives each service the same line.
        """
        live = sorted(
            (service.turn, service.token, domain)
            for domain, service in self._services.items()
            if service.line
        )
        return [m for _, _, domain in live for m in self._services[domain].line]

    def __iter__(self) -> Iterator[Membership]:
        return iter(self.items())
