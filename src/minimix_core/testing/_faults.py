"""A faulty network between a router and the simulated service: seeded, replayable chaos.

:class:`FaultyLink` carries stanzas both ways between an account's server (the router's
side) and a :class:`MUCService`, with a simulated clock: each stanza arrives at a time of
its own. It loses, duplicates, delays and reorders stanzas in both directions, bounces
what the router sends with the errors a server gives when the remote domain cannot be
reached (``remote-server-not-found``, ``remote-server-timeout``), restarts rooms (332
to every occupant, or silently forgetting them) and has outages, in which the service hears
nothing the router sends. Every choice comes from one
``random.Random(seed)``, drawn in a fixed order: the same seed and the same calls give the
same arrivals, so a failing run replays exactly.

>>> from minimix_core import JID, parse_stanza
>>> from minimix_core.testing import FaultyLink, MUCService
>>> service = MUCService()
>>> room = service.create_room("lounge")
>>> link = FaultyLink(service, seed=1, local_domain="example.org")
>>> join = parse_stanza("<presence from='alice@example.org' to='lounge@muc.example.net/alice'"
...                     " id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
>>> link.send(join, now=0.0)
>>> arrived = []
>>> while (item := link.step()) is not None or link.next_time() is not None:
...     if item is not None:
...         arrived.append(item)
>>> [(at, str(stanza.from_)) for at, stanza in arrived]
[(0.0, 'lounge@muc.example.net/alice'), (0.0, 'lounge@muc.example.net')]
"""

from __future__ import annotations

import heapq
import random
from collections import Counter

from attrs import define, frozen

from .._jid import JID
from .._stanza import Stanza
from ._parts import error_reply, status
from ._service import MUCService

__all__ = ["Faults", "FaultyLink"]

_SID = "{urn:xmpp:sid:0}stanza-id"
_BOUNCES = (("remote-server-not-found", "cancel"), ("remote-server-timeout", "wait"))


@frozen(kw_only=True)
class Faults:
    """How often each fault happens: probabilities per stanza, and the longest delay."""

    loss: float = 0.0
    """A stanza is lost (either direction)."""
    duplicate: float = 0.0
    """A stanza arrives twice (either direction)."""
    delay: float = 0.0
    """Seconds a stanza may take at most; arrivals stay in order unless reordered."""
    reorder: float = 0.0
    """A stanza ignores the order of the stream and may overtake earlier ones."""
    bounce: float = 0.0
    """A stanza the router sends never reaches the service: its own server answers with an
    s2s error instead (never for an error, which is not answered)."""
    tick: float = 0.0
    """Delays are whole multiples of it (0: any float). A power of two such as ``1/1024``
    keeps every sum of times exact: use it to tell a floating-point bug from another."""


TO_SERVICE = "to-service"
TO_ROUTER = "to-router"


@define
class _Arrival:
    at: float
    seq: int
    direction: str
    stanza: Stanza

    def key(self) -> tuple[float, int]:
        return (self.at, self.seq)


class FaultyLink:
    """The network between the router's server (``local_domain``) and a simulated service.

    :meth:`send` takes what the router sends; :meth:`step` moves the earliest stanza in
    flight: one for the service is handed to it at once (its answers start their own
    journey back), one for ``local_domain`` is returned with its arrival time, for the
    host to hand to the router (bare ``to``) or a session (full ``to``). What the service
    sends elsewhere (remote occupants) arrives at once, faultless, in :attr:`elsewhere`.
    Counters of injected faults are in :attr:`injected`; :attr:`disturbed` holds each
    ``(account, room)`` whose stream from the room lost or reordered something (what it
    shows can no longer be expected to match the room's).
    """

    def __init__(
        self,
        service: MUCService,
        *,
        seed: int,
        local_domain: str,
        faults: Faults | None = None,
    ) -> None:
        self.service = service
        self.faults = faults if faults is not None else Faults()
        self.local_domain = local_domain
        self.random = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.disturbed: set[tuple[JID, JID]] = set()
        self.elsewhere: list[Stanza] = []
        self.order: dict[JID, dict[str, int]] = {}
        """Per room, each broadcast message's stanza-id and its place in the room's order."""
        self._flight: list[tuple[tuple[float, int], _Arrival]] = []
        self._seq = 0
        self._last = {TO_SERVICE: 0.0, TO_ROUTER: 0.0}
        self._outage_until = float("-inf")

    def calm(self) -> None:
        """Stop every fault from now on (what is in flight still arrives as scheduled)."""
        self.faults = Faults()
        self._outage_until = float("-inf")

    def outage(self, *, until: float) -> None:
        """Until ``until`` (seconds), what the router sends is lost with no answer at all.

        A hung or unreachable service as its server sees it: no stanza and no s2s error
        comes back, so only the router's own deadlines notice. What is already in flight
        arrives as scheduled.
        """
        self._outage_until = max(self._outage_until, until)

    def next_time(self) -> float | None:
        """When the next stanza in flight arrives, or ``None`` when nothing is."""
        return self._flight[0][0][0] if self._flight else None

    def send(self, stanza: Stanza, *, now: float) -> None:
        """The router's server sends ``stanza`` (``from_`` set) towards the service."""
        if now < self._outage_until:
            self.injected["outage"] += 1
            return
        faults = self.faults
        if faults.bounce and stanza.type != "error" and self.random.random() < faults.bounce:
            condition, kind = self.random.choice(_BOUNCES)
            self.injected["bounce"] += 1
            bounce = error_reply(stanza, condition, kind)
            self._travel(TO_ROUTER, bounce, now, faultless=True)
            return
        self._travel(TO_SERVICE, stanza, now)

    def from_service(self, stanzas: list[Stanza], *, now: float) -> None:
        """What the service sent at ``now`` (an answer, or an administrator's doing)."""
        for stanza in stanzas:
            self._note_order(stanza)
            to = stanza.to
            if to is not None and to.domain == self.local_domain:
                self._travel(TO_ROUTER, stanza, now)
            else:
                self.elsewhere.append(stanza)

    def step(self) -> tuple[float, Stanza] | None:
        """Move the earliest stanza in flight.

        Returns ``(arrival time, stanza)`` for one that reached ``local_domain``; ``None``
        when it went to the service (or nothing was in flight).
        """
        if not self._flight:
            return None
        _, arrival = heapq.heappop(self._flight)
        if arrival.direction == TO_ROUTER:
            return arrival.at, arrival.stanza
        self.from_service(self.service.receive(arrival.stanza, now=arrival.at), now=arrival.at)
        return None

    def restart(self, room: JID, *, now: float, silent: bool = False) -> None:
        """``room`` restarts: every occupant is told 332, or (``silent``) nobody is told.

        A temporary room that empties this way is gone. Nothing happens to a room that
        does not exist.
        """
        state = self.service._rooms.get(room)
        if state is None:
            return
        self.injected["forget" if silent else "restart"] += 1
        out = state.clear(() if silent else (status(332),))
        state.vanished = not state.persistent
        self.service._settle(state)
        if not silent:
            self.from_service(out, now=now)

    def _note_order(self, stanza: Stanza) -> None:
        sid = stanza.find(_SID)
        sender = stanza.from_
        if stanza.kind != "message" or sid is None or sender is None:
            return
        key = sid.get("id")
        order = self.order.setdefault(sender.bare, {})
        if key is not None and key not in order:
            order[key] = len(order)

    def _travel(
        self, direction: str, stanza: Stanza, now: float, *, faultless: bool = False
    ) -> None:
        faults = Faults() if faultless else self.faults
        rng = self.random
        if faults.loss and rng.random() < faults.loss:
            self.injected["loss"] += 1
            self._disturb(direction, stanza)
            return
        delay = rng.uniform(0.0, faults.delay) if faults.delay else 0.0
        if faults.tick:
            delay -= delay % faults.tick
        at = now + delay
        if faults.reorder and rng.random() < faults.reorder:
            self.injected["reorder"] += 1
            self._disturb(direction, stanza)
        else:
            at = max(at, self._last[direction])
            self._last[direction] = at
        self._push(direction, stanza, at)
        if faults.duplicate and rng.random() < faults.duplicate:
            self.injected["duplicate"] += 1
            self._push(direction, stanza, at)

    def _push(self, direction: str, stanza: Stanza, at: float) -> None:
        self._seq += 1
        arrival = _Arrival(at, self._seq, direction, stanza)
        heapq.heappush(self._flight, (arrival.key(), arrival))

    def _disturb(self, direction: str, stanza: Stanza) -> None:
        to, sender = stanza.to, stanza.from_
        if direction == TO_ROUTER and to is not None and sender is not None:
            self.disturbed.add((to.bare, sender.bare))
