"""The router's working state: table, timers, id source and the current time."""

from __future__ import annotations

import heapq
from collections import OrderedDict
from itertools import islice
from operator import itemgetter

from ._autojoin import AutojoinQueue
from ._config import Config
from ._jid import JID
from ._stanza import Element, Stanza, payload_size
from ._table import Account, Table

__all__ = ["LATEST", "Core", "TimerKey", "Timers", "keepalive_timer"]

LATEST = 253402300799.0
"""9999-12-31T23:59:59Z: the last second an XEP-0082 timestamp can say; the router's
``now`` goes no further."""

TimerKey = tuple[str, JID, "JID | str"]
"""``(kind, account, detail)``: what a deadline is for (an IQ id, a room)."""


def keepalive_timer(account: JID) -> TimerKey:
    """The key of ``account``'s one keep-alive timer (each room's deadline is its ``ping_at``)."""
    return ("ping", account, account)


class Timers:
    """Deadlines by key, earliest first; cancelled or moved deadlines are skipped lazily.

    The heap entry ``(when, seq, key)`` is also what ``_when`` maps the key to: a live
    entry is the very object the key points at, so one tuple per deadline is kept. Stale
    entries (cancelled, moved: a join's deadline once the room answered) are dropped when
    they reach the top, or all at once when they pass a quarter of the live ones: a pass
    over the heap every n/4 cancels, O(1) amortized, and most occupancies keep one entry
    (their keep-alive), not two.
    """

    __slots__ = ("_heap", "_seq", "_when")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerKey]] = []
        self._when: dict[TimerKey, tuple[float, int, TimerKey]] = {}
        self._seq = 0  # orders equal deadlines by when they were set

    def schedule(self, key: TimerKey, when: float) -> None:
        """Set (or move) the deadline of ``key``."""
        self._seq += 1
        entry = (when, self._seq, key)
        self._when[key] = entry
        heap = self._heap
        heapq.heappush(heap, entry)
        if len(heap) > len(self._when) * 5 // 4 + 16:
            self._compact()

    def _compact(self) -> None:
        """Keep only the live entries."""
        live = self._when
        self._heap = [entry for entry in self._heap if live.get(entry[2]) is entry]
        heapq.heapify(self._heap)

    def cancel(self, key: TimerKey) -> None:
        """Forget ``key``'s deadline, if it has one."""
        self._when.pop(key, None)

    def when(self, key: TimerKey) -> float | None:
        """``key``'s deadline, if it has one."""
        entry = self._when.get(key)
        return None if entry is None else entry[0]

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap and self._when.get(heap[0][2]) is not heap[0]:
            heapq.heappop(heap)

    def next_deadline(self) -> float | None:
        """The earliest live deadline."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def items(self) -> list[tuple[float, TimerKey]]:
        """Every live deadline with its key, in the order they fire.

        Snapshots keep this order, so equal deadlines fire in the same order after a restore.
        """
        ordered = sorted(self._when.values(), key=lambda entry: entry[1])
        return [(when, key) for when, _, key in ordered]

    def pop_due(self, now: float) -> TimerKey | None:
        """The earliest key due at ``now``, removed; ``None`` when nothing is due.

        One at a time: what a timer's handler cancels or moves never runs after it.
        """
        self._drop_stale()
        if not self._heap or self._heap[0][0] > now:
            return None
        _, _, key = heapq.heappop(self._heap)
        del self._when[key]
        return key


_SIZE = itemgetter(1)


class Core:
    """Everything a handler may read or change, passed as one argument."""

    __slots__ = (
        "autojoins",
        "config",
        "counter",
        "message_bytes",
        "messages",
        "now",
        "payload_bytes",
        "payloads",
        "sequence",
        "stanza_bytes",
        "stanzas",
        "table",
        "timers",
    )

    def __init__(self, config: Config) -> None:
        self.config = config
        self.table = Table()
        self.timers = Timers()
        self.counter = 0
        self.sequence = 0
        self.now = 0.0
        self.autojoins = AutojoinQueue(config.autojoin_interval, config.autojoin_intervals)
        """Joins the router makes on its own, one per MUC service per ``autojoin_interval``."""
        # An OrderedDict: evicting its oldest entry is O(1), where a dict's first key is
        # found by skipping the slots of every key deleted before it.
        self.payloads: OrderedDict[tuple[Element, ...], tuple[Element, ...]] = OrderedDict()
        """One copy of each payload the rooms sent several accounts (see :meth:`share`),
        oldest first."""
        self.payload_bytes = 0
        """The sizes of the pooled payloads, summed (characters of XML)."""
        self.messages: dict[str | tuple[str, str], tuple[tuple[Element, ...], int]] = {}
        """One payload, with its size, of each recent room message, for the other local
        accounts in the room, by message key (see :meth:`share_message`), oldest first."""
        self.message_bytes = 0
        """The sizes of the pooled messages, summed (characters of XML)."""
        self.stanzas: OrderedDict[Stanza, Stanza] = OrderedDict()
        """One copy of each stanza many occupancies keep alike (see :meth:`share_stanza`),
        oldest first."""
        self.stanza_bytes = 0
        """The sizes of the pooled stanzas' payloads, summed (characters of XML)."""

    def next_deadline(self) -> float | None:
        """The earliest of the timers and the autojoin queue."""
        deadline = self.timers.next_deadline()
        queued = self.autojoins.next_deadline()
        if queued is not None and (deadline is None or queued < deadline):
            return queued
        return deadline

    def share(self, children: tuple[Element, ...]) -> tuple[Element, ...]:
        """The one kept copy of a payload equal to ``children``.

        When many local accounts sit in the same room, the room sends each the same
        occupant presences, subjects and messages; the caches then hold them once, not
        once per account. The pool is bounded by ``Config.max_shared_payloads`` entries
        and ``Config.max_shared_payload_bytes`` characters: the oldest entries go first,
        each in O(1). A payload larger than the byte bound is not pooled.
        """
        pool = self.payloads
        shared = pool.get(children)
        if shared is not None:
            return shared
        size = payload_size(children)
        config = self.config
        if size > config.max_shared_payload_bytes:
            return children
        limit = config.max_shared_payload_bytes - size
        while pool and (len(pool) >= config.max_shared_payloads or self.payload_bytes > limit):
            # Sizes are memos on the elements: reading the evicted one's again is cheap.
            self.payload_bytes -= payload_size(pool.popitem(last=False)[0])
        pool[children] = children
        self.payload_bytes += size
        return children

    def share_message(self, room: str, key: str, stanza: Stanza, size: int) -> Stanza:
        """``stanza``, a room message, with the payload kept for every account that has it.

        Every local account in a room gets each message, parsed apart; their histories
        keep one payload when theirs are equal. Found by the message's key
        (:func:`~minimix_core._history.message_key`: the room's XEP-0359 stanza-id, unique
        in the room, or a hash of the payload), a lookup that costs the same for a message
        just parsed as for one seen before, where :meth:`share` hashes the whole payload.
        Another room's message under the same key is told apart by its payload, which
        names its room (the stanza-id's ``by``), and kept by ``room`` (the room's bare JID
        as text) and key (:meth:`share_aside`). ``size`` is the message's (characters of
        XML). Bounded by ``Config.max_shared_messages`` entries and
        ``Config.max_shared_payload_bytes`` characters (:meth:`trim_messages`).
        """
        pool = self.messages
        found = pool.get(key)
        if found is not None:
            children = found[0]
            if children is stanza.children:
                return stanza
            # The key names the message, not what each account got of it: a room may
            # tell one recipient more (a moderator the sender's real JID, a join's
            # history its delay). Shared only when it is the same payload.
            if children == stanza.children:
                return stanza.with_children(children)
            return self.share_aside(room, key, stanza, size)
        return self._pool_message(key, stanza, size)

    def share_aside(self, room: str, key: str, stanza: Stanza, size: int) -> Stanza:
        """:meth:`share_message` for a key the pool holds another payload under.

        Another room's message (stanza-ids are unique in their room only), or another
        copy of this one: kept by room and key, so that this room's local accounts still
        share one payload.
        """
        found = self.messages.get((room, key))
        if found is None:
            return self._pool_message((room, key), stanza, size)
        children = found[0]
        if children is stanza.children or children != stanza.children:
            return stanza
        return stanza.with_children(children)

    def _pool_message(self, key: str | tuple[str, str], stanza: Stanza, size: int) -> Stanza:
        pool = self.messages
        config = self.config
        if size > config.max_shared_payload_bytes:
            return stanza
        pool[key] = (stanza.children, size)
        self.message_bytes += size
        if (
            len(pool) > config.max_shared_messages
            or self.message_bytes > config.max_shared_payload_bytes
        ):
            self.trim_messages()
        return stanza

    def trim_messages(self) -> None:
        """Keep the newest half of the message pool, once it is over a bound.

        That is the newest entry, and as many more before it as fit in half of each bound
        (``Config.max_shared_messages``, ``max_shared_payload_bytes``). Dropping half at
        once costs a step per entry dropped, as dropping the oldest per message would,
        and lets a plain dict serve: forgetting its oldest key one at a time would walk
        the slots of every key deleted before it.
        """
        config = self.config
        pool = self.messages
        # The newest max(1, bound // 2) entries; fewer are there when bytes set it off.
        first = max(0, len(pool) - max(1, config.max_shared_messages // 2))
        kept = dict(islice(pool.items(), first, None))
        total = sum(map(_SIZE, kept.values()))
        budget = config.max_shared_payload_bytes // 2
        if total > budget:  # large messages: fewer of them
            newest: list[tuple[str | tuple[str, str], tuple[tuple[Element, ...], int]]] = []
            total = 0
            for item in reversed(kept.items()):
                if newest and total + item[1][1] > budget:
                    break
                newest.append(item)
                total += item[1][1]
            kept = dict(reversed(newest))
        self.messages = kept
        self.message_bytes = total

    def share_payload(self, stanza: Stanza) -> Stanza:
        """``stanza`` with its payload replaced by the pooled copy (:meth:`share`), if any.

        For the stanzas an occupancy keeps (self-presence, join): every account in the
        room has an equal one.
        """
        children = self.share(stanza.children)
        return stanza if children is stanza.children else stanza.with_children(children)

    def share_stanza(self, stanza: Stanza) -> Stanza:
        """The one kept copy of a stanza equal to ``stanza``.

        For what every account in a room keeps alike once its ``to`` is left out (the
        room's self-presence, occupants' presences): one value for all of them, where
        :meth:`share_payload` still leaves a stanza and its root attributes per account.
        Bounded as that pool is, separately: ``Config.max_shared_payloads`` entries and
        ``Config.max_shared_payload_bytes`` characters, the oldest going first.
        """
        pool = self.stanzas
        shared = pool.get(stanza)
        if shared is not None:
            return shared
        # A payload pooled already is shared; a new one is not added to that pool too:
        # the pooled stanza holds it, and a room with one local account pays one entry.
        children = self.payloads.get(stanza.children)
        if children is not None:
            stanza = stanza.with_children(children)
        size = payload_size(stanza.children)
        config = self.config
        if size > config.max_shared_payload_bytes:
            return stanza
        limit = config.max_shared_payload_bytes - size
        while pool and (len(pool) >= config.max_shared_payloads or self.stanza_bytes > limit):
            self.stanza_bytes -= payload_size(pool.popitem(last=False)[0].children)
        pool[stanza] = stanza
        self.stanza_bytes += size
        return stanza

    def forget_if_idle(self, account: Account) -> None:
        """Drop an account's entry once it holds nothing.

        What it remembers of its rooms (messages archived, device positions) is kept
        ``Config.device_memory`` seconds longer.
        """
        if not account.idle:
            return
        jid = account.jid
        if account.memory:
            self.schedule(("forget", jid, jid), self.config.device_memory)
        else:
            self.table.accounts.pop(jid, None)
            self.timers.cancel(("forget", jid, jid))

    def forget_memory(self, jid: JID) -> None:
        """``Config.device_memory`` after the account went idle: forget it if it still is."""
        account = self.table.accounts.get(jid)
        if account is not None and account.idle:
            del self.table.accounts[jid]

    def next_id(self) -> str:
        """A fresh id for a stanza the router invents: prefix and counter, replayable."""
        self.counter += 1
        return f"{self.config.id_prefix}{self.counter}"

    def next_seq(self) -> int:
        """A number that orders events (not an id: never sent anywhere)."""
        self.sequence += 1
        return self.sequence

    def arm_keepalive(self, account: Account) -> None:
        """Set ``account``'s keep-alive timer to the earliest ``ping_at`` of its rooms.

        One timer per account, not per room: a timer entry costs more memory than the rest
        of a quiet occupancy's own fields, and an account is in few rooms (at most
        ``Config.max_rooms_per_account``), so looking over them is cheap.
        """
        key = keepalive_timer(account.jid)
        rooms = account.rooms.values()
        first = min((o.ping_at for o in rooms if o.ping_at is not None), default=None)
        if first is None:
            self.timers.cancel(key)
        elif self.timers.when(key) != first:
            self.timers.schedule(key, first)

    def deadlines(self) -> list[tuple[float, str, JID, JID | str]]:
        """Every live timer as ``(when, kind, account, detail)``, in firing order.

        An account's one keep-alive timer stands for its rooms' deadlines: it is given as
        a ``ping`` deadline per room (``detail`` the room), earliest first, rooms with
        equal deadlines in the account's order.
        """
        out: list[tuple[float, str, JID, JID | str]] = []
        for when, (kind, account, detail) in self.timers.items():
            if kind != "ping":
                out.append((when, kind, account, detail))
                continue
            rooms = self.table.accounts[account].rooms.values()
            pings = [(o.ping_at, kind, account, o.room) for o in rooms if o.ping_at is not None]
            out += sorted(pings, key=lambda d: d[0])
        return out

    def schedule(self, key: TimerKey, delay: float) -> None:
        """Set ``key``'s deadline ``delay`` seconds from now."""
        self.timers.schedule(key, self.now + delay)
