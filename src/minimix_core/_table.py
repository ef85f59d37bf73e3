"""The membership table: accounts, their occupancies and their sessions.

Every lookup on the hot path is a dict lookup keyed by JID; no step scans all accounts,
rooms or sessions. The table is owned by one :class:`Router`; handlers check an input
completely before they change anything, so a refused input leaves the table as it was.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Final, TypeVar

from ._events import Bookmark
from ._history import GROUPCHAT_TAGS, History, version_2_key
from ._jid import JID, jid_text
from ._lifecycle import OccupancyState
from ._packed import pack, unpack
from ._place import Place
from ._place import highest as highest_number
from ._recent import RecentKeys
from ._sessions import NO_ENTRIES, NickChange, PendingIQ, Sessions, writable
from ._stanza import Element, Stanza

__all__ = [
    "EARLIER_JOINS",
    "Account",
    "Occupancy",
    "RoomMemory",
    "RoomView",
    "SessionRooms",
    "Table",
    "flag_set",
]

_V = TypeVar("_V")


class RoomView:
    """Everything the room told the account during one occupancy, replaced whole by a join.

    A fresh join starts from an empty view, so nothing of an earlier occupancy can leak
    into the new one; a rejoin keeps the old view only to show the sessions what changed.
    """

    __slots__ = (
        "created",
        "flags",
        "history",
        "joined_at",
        "last_message_at",
        "nick",
        "occupant_bytes",
        "occupants",
        "partial",
        "passed",
        "room_presence",
        "self_kept",
        "subject",
    )

    def __init__(self) -> None:
        self.nick: str | None = None
        """The nickname the room confirmed; ``None`` until the self-presence arrives."""
        self.self_kept: bytes | Stanza | None = None
        """:attr:`self_presence`, packed (see there)."""
        self.occupants: dict[str, Stanza] = NO_ENTRIES
        """Other occupants' latest presence, by nick, in the order they joined, each
        without its ``to`` (one value for every account in the room, as the
        self-presence); :data:`NO_ENTRIES` while there is none (see :func:`writable`)."""
        self.occupant_bytes = 0
        """The size of their payloads (``payload_size``), for ``Config.max_occupant_bytes``."""
        self.partial = False
        """An occupant's presence went past the cache's bounds: someone in the room may be
        missing from ``occupants``."""
        self.room_presence: Stanza | None = None
        """The room's own presence (from its bare JID, as ejabberd sends with its caps)."""
        self.subject: Stanza | None = None
        """The room's latest subject message; ``None`` until the room sent one."""
        self.flags: frozenset[int] = frozenset()
        """Room status codes for self-presence: 100 (non-anonymous), 170 (logged); one
        shared value per combination (:func:`flag_set`)."""
        self.created = False
        """The account's join created the room (201)."""
        self.history: History | None = None
        """The room's recent historic messages, made on the first one (most rooms are quiet)."""
        self.passed: RecentKeys[None] | None = None
        """Keys of the messages passed on in this occupancy, newest last, at most
        ``Config.max_remembered_messages``: a repeat is not passed on twice, even when the
        bounded history no longer holds it. ``None`` until the first one (most occupancies
        are quiet)."""
        self.last_message_at: float | None = None
        """When the newest historic message was sent (clamped to the router's clock)."""
        self.joined_at = 0.0

    @property
    def self_presence(self) -> Stanza | None:
        """The room's latest self-presence, without its ``to``; ``None`` until it came.

        Kept packed (:mod:`~minimix_core._packed`): it is the one stanza of the view that
        differs for every account (the nick, the occupant-id, the real JID), and it is read
        only when a session joins late or the account rejoins.
        """
        kept = self.self_kept
        return None if kept is None else unpack(kept)

    @self_presence.setter
    def self_presence(self, stanza: Stanza | None) -> None:
        self.self_kept = None if stanza is None else pack(stanza)


_FLAG_SETS: dict[frozenset[int], frozenset[int]] = {}


def flag_set(codes: Iterable[int]) -> frozenset[int]:
    """The one shared frozenset of these room status codes (few combinations exist).

    Every occupancy of a room keeps the same flags: one value for all of them, not a set
    each.
    """
    flags = frozenset(codes)
    return _FLAG_SETS.setdefault(flags, flags)


def adopt_version_2(keys: RecentKeys[_V], key: str) -> bool:
    """Whether ``keys`` holds ``key`` under the hash snapshot version 2 made of it.

    If so, ``key`` takes the hash's entry (its value and its place in the order).
    """
    old = version_2_key(key)
    if old is None or old not in keys:
        return False
    keys.move(old, key)
    return True


class RoomMemory:
    """What the account remembers of a room across occupancies (bounded: keys of bounded size).

    Each message the account was offered gets a number in arrival order; ``seen`` maps the
    message's key (:func:`~minimix_core._history.message_key`) to it, so a message the
    room sends again (a duplicate, a join's history) is recognised and archived once. A
    device's place (:mod:`~minimix_core._place`) counts in these numbers.
    """

    __slots__ = ("last", "legacy", "positions", "seen")

    def __init__(self) -> None:
        self.seen: RecentKeys[int] = RecentKeys()
        self.last = 0
        self.positions: dict[JID, tuple[Place, float]] = {}
        """Devices that left: the place of each (what it had), and when it went."""
        self.legacy = 0
        """Restored from a version 2 snapshot: messages numbered up to this one may be
        remembered under the hash version 2 made of their stanza-id; 0 when none is."""

    def note(self, key: str, bound: int) -> int | None:
        """Number a new message; ``None`` if it was seen before."""
        if key in self.seen or (self.legacy and self._adopt(key)):
            return None
        self.last += 1
        self.seen.add(key, self.last, bound)
        return self.last

    def _adopt(self, key: str) -> bool:
        """Whether ``key`` was seen under its version 2 hash; if so it takes that place."""
        return adopt_version_2(self.seen, key)

    def outlive(self, oldest_passed: str | None) -> None:
        """Drop the mark once no version 2 hash can be left.

        That is once the oldest message remembered came after the restore, and the
        oldest of the messages passed on in the room (``oldest_passed``, which may be
        held under its hash too) as well: the room sends some (private ones) that only
        the memory keeps, so the memory can forget its hashes first.
        """
        seen = self.seen
        oldest = seen.oldest()
        if oldest is not None and seen[oldest] <= self.legacy:
            return
        number = None if oldest_passed is None else seen.get(oldest_passed, 0)
        if number is None or number > self.legacy:
            self.legacy = 0


EARLIER_JOINS: Final = 4
"""How many of an occupancy's earlier joins it tells apart by their answers' ids: a retry,
a restart and a session's join in a row leave three in flight at most."""


class Occupancy:
    """The account's standing in one room, what the room told it, and who waits for what."""

    __slots__ = (
        "attached",
        "attempts",
        "earlier",
        "join_id",
        "join_nick",
        "join_template",
        "joiner",
        "last_seen",
        "leaving",
        "nick_change",
        "pending",
        "ping_at",
        "ping_failures",
        "ping_id",
        "request_id",
        "restored",
        "resync",
        "room",
        "room_text",
        "sent_ids",
        "sent_payload",
        "state",
        "view",
        "withheld",
    )

    def __init__(self, room: JID, join: Stanza) -> None:
        self.room = room
        self.room_text = jid_text(room)
        """``str(room)``: every room message compares its stanza-ids' ``by`` with it."""
        self.state = OccupancyState.ABSENT
        self.keep_join(join)
        self.view = RoomView()
        self.request_id: str | None = None
        """The id of the join, leave or rejoin the current state waits on."""
        self.earlier: tuple[str | None, ...] = ()
        """Ids of the account's requests in this room before the one on its way whose
        answers may still come, the newest last (at most :data:`EARLIER_JOINS`): joins
        before a retry or a restart's rejoin, or the leave a join followed (its answer ends
        what the room sent the occupancy before). Rooms need not reflect ids (§7.2.2), but
        one that does tells these answers apart. ``None`` among them marks
        :attr:`interleaved`; the next join sent clears it."""
        # See Sessions: most occupancies have one session at most in each.
        self.attached: Sessions = NO_ENTRIES
        self.pending: Sessions = NO_ENTRIES
        self.leaving: Sessions = NO_ENTRIES
        """Sessions that left last and wait for the room's answer."""
        self.sent_ids: OrderedDict[str, JID] | None = None
        """Ids of stanzas sent for sessions, oldest first: errors go back to the sender.
        ``None`` until the first one. Ordered, so the oldest goes in one step at any
        ``Config.max_tracked_ids``, where a plain dict walks past the slots its deletions
        left; an id sent again moves to the end, so a plain list beside it would not do."""
        self.last_seen = 0.0
        """When the room last sent the account anything but an error: the keep-alive
        measures silence."""
        self.ping_id: str | None = None
        """The id of the router's keep-alive ping in flight (``JOINED`` only)."""
        self.ping_at: float | None = None
        """When the keep-alive looks at this room next (``JOINED`` only). The account has
        one timer, at the earliest of its rooms'
        (:meth:`~minimix_core._core.Core.arm_keepalive`)."""
        self.ping_failures = 0
        self.joiner: JID | None = None
        """The session whose join the account sent: only it may see 201 (room created)."""
        self.sent_payload: tuple[Element, ...] = ()
        """The account's presence in the room as last sent: the aggregate of its sessions'."""
        self.nick_change: NickChange | None = None
        """A nick change a session asked for, until the room answers it (``JOINED`` only)."""
        self.attempts = 0
        """How often the current request went unanswered: the rejoin's tries (``REJOIN_*``,
        ``Config.max_rejoin_attempts``), or whether the leave was said once more
        (``LEAVING``)."""
        self.restored = False
        """Carried over a restart and queued to hear from the account again (a rejoin or a
        leave); anything that happens to it first makes that unnecessary."""
        self.withheld: tuple[tuple[int, bool], ...] = ()
        """Room messages (their numbers, and whether they mention the account) that came
        live with no session attached while sessions waited for a resync's end
        (``answer_held``): not announced as unattended, as their answer brings them. Should
        the last of those sessions go unanswered, they are announced then."""
        self.resync: dict[str, None] | None = None
        """After a rejoin, until the room's subject ends its join sequence: the nicks it
        announced again. What the sessions already know is not shown to them twice."""

    @property
    def interleaved(self) -> bool:
        """Whether an earlier join's answer came while this one was on its way.

        Whom the room named meanwhile may be of a room that has forgotten them since:
        once in, the account asks the room again (``earlier-answer``).
        """
        return None in self.earlier

    def mark_interleaved(self) -> None:
        """Note that an earlier join's answer came (see :attr:`interleaved`)."""
        if None not in self.earlier:
            self.earlier = (None, *self.earlier)

    def sent_again(self) -> None:
        """The join :attr:`join_id` goes out.

        An id it reuses is its own, not an earlier request's: clients number their stanzas
        per stream, so a device's join may carry the id of a leave or join before it. A
        new join clears :attr:`interleaved`. (A join whose answer may still come is kept by
        :meth:`unanswered` when its wait ends; one answered is not an earlier one.)
        """
        self._keep_earlier(None, but=self.join_id)

    def unanswered(self, request: str | None) -> None:
        """The wait for ``request``, a join's or a leave's id, ends without its answer.

        The answer may come yet: a deadline, a leave or a restart ended the wait.
        """
        self._keep_earlier(request, but=None)

    def _keep_earlier(self, new: str | None, *, but: str | None) -> None:
        ids = (*self.earlier, new)
        kept = dict.fromkeys(i for i in ids if i is not None and i != but)
        self.earlier = tuple(kept)[-EARLIER_JOINS:]

    def keep_join(self, join: Stanza) -> None:
        """Keep ``join``, the account's join presence (for rejoins), as three parts.

        ``join_template`` is what is left without ``from``, ``to`` and ``id``: equal for
        every account that joins a room alike, so one value may serve them all
        (:meth:`~minimix_core._core.Core.share_stanza`). ``join_nick`` is the nick it asks
        for (``to``'s resource), ``join_id`` its ``id``: the room reflects it on the
        self-presence (XEP-0045 §7.2.3).
        """
        to = join.to
        self.join_nick = "" if to is None or to.resource is None else to.resource
        self.join_id = join.id
        self.join_template = join.replace(from_=None, to=None, id=None)

    def join_from(self, account: JID) -> Stanza:
        """The account's join presence as sent: from ``account`` to the room, with its id."""
        return self.join_template.replace(
            from_=account, to=self.room.with_resource(self.join_nick), id=self.join_id
        )

    @property
    def requested_nick(self) -> str:
        """The nick the account's join asked for (its ``to``'s resource)."""
        return self.join_nick

    @property
    def current_nick(self) -> str:
        """The nick the room knows the account by, or the one it asked for."""
        nick = self.view.nick
        return nick if nick is not None else self.requested_nick

    def audience(self) -> Sessions:
        """The sessions that see the room's traffic in the current state."""
        state = self.state
        if state is OccupancyState.JOINING:
            return self.pending
        if state is OccupancyState.LEAVING:
            return self.leaving
        return self.attached


class SessionRooms(dict[JID, None]):
    """The rooms one session takes part in (an insertion-ordered set), and its JID.

    ``session`` is the one object that keys the session's entry in every occupancy: a
    host may hand the router a new, equal JID with each stanza, and the router would
    otherwise keep one copy of it per room.
    """

    __slots__ = ("session",)

    def __init__(self, session: JID) -> None:
        super().__init__()
        self.session = session


class Account:
    """One local account: its occupancies by room and, per session, the rooms it is in."""

    __slots__ = (
        "blocked",
        "bookmarks",
        "envelope",
        "jid",
        "memory",
        "pending_iqs",
        "rooms",
        "sessions",
    )

    def __init__(self, jid: JID) -> None:
        self.jid = jid
        local, domain, _ = jid
        self.envelope = GROUPCHAT_TAGS + 9 + len(domain) + (8 if local is None else len(local) + 9)
        """Characters of a groupchat message to the account (XEP-0045 §7.2.14 counts
        them) that are neither its room, its sender's nick, its id nor its payload: the
        tags, ``from``'s quotes and slash, and ``to="account"``. Counted from the JID's
        own parts: a server may have more accounts than the cache of JID texts holds."""
        # These four are NO_ENTRIES while empty (see writable()): most accounts have none.
        self.pending_iqs: dict[str, PendingIQ] = NO_ENTRIES
        """IQs sent for sessions, by the id the router gave them."""
        self.bookmarks: dict[JID, Bookmark] = NO_ENTRIES
        """The rooms the account's autojoin bookmarks keep it in (XEP-0402)."""
        self.blocked: dict[JID, Bookmark] = NO_ENTRIES
        """Bookmarked rooms that removed or refused the account for good (kick, ban,
        destruction, a ``cancel`` error), with the bookmark as it was then: not joined
        again until that bookmark changes or a session joins."""
        self.rooms: dict[JID, Occupancy] = {}
        self.sessions: dict[JID, SessionRooms] = {}
        """Session full JID -> the rooms it is attached to, pending or leaving in (an
        insertion-ordered set, so that every walk over it is deterministic)."""
        self.memory: dict[JID, RoomMemory] = NO_ENTRIES
        """Per room, what outlives its occupancies; the least recently used goes first."""

    def link(self, session: JID, room: JID) -> JID:
        """Record that ``session`` takes part in ``room``.

        Returns the session's JID as the account keeps it (see :class:`SessionRooms`).
        """
        rooms = self.sessions.get(session)
        if rooms is None:
            rooms = self.sessions[session] = SessionRooms(session)
        rooms[room] = None
        return rooms.session

    def unlink(self, session: JID, room: JID) -> None:
        """Record that ``session`` no longer takes part in ``room``."""
        rooms = self.sessions.get(session)
        if rooms is not None:
            rooms.pop(room, None)
            if not rooms:
                del self.sessions[session]

    def remember(self, room: JID, bound: int) -> RoomMemory:
        """The memory of ``room``, made on first use; at most ``bound`` rooms are kept."""
        memory = self.memory.pop(room, None)
        if memory is None:
            memory = RoomMemory()
            # Made again while the account is in the room (its memory was pushed out): the
            # history and the sessions count in the old numbers. The new memory numbers on
            # after them, so that none is taken for an older one.
            occupancy = self.rooms.get(room)
            memory.last = 0 if occupancy is None else _numbers_in_use(occupancy)
            if len(self.memory) >= bound:
                gone = next(iter(self.memory))
                del self.memory[gone]
                occupancy = self.rooms.get(gone)
                if occupancy is not None:
                    # Their places counted in the memory's numbers: a new one starts afresh.
                    for sessions in (occupancy.attached, occupancy.pending, occupancy.leaving):
                        for attachment in sessions.values():
                            attachment.position = None
        self.memory = writable(self.memory)
        self.memory[room] = memory
        return memory

    def block(self, room: JID) -> None:
        """``room`` removed or refused the account for good: not rejoined by its bookmark.

        Until that bookmark changes or a session joins (see ``blocked``).
        """
        self.blocked = writable(self.blocked)
        self.blocked[room] = self.bookmarks[room]

    def wanted(self, room: JID) -> bool:
        """An autojoin bookmark keeps the account in ``room``, and the room did not refuse."""
        return room in self.bookmarks and room not in self.blocked

    @property
    def idle(self) -> bool:
        """Nothing but memory left: no room, session, IQ in flight or bookmark."""
        return not (self.rooms or self.sessions or self.pending_iqs or self.bookmarks)


def _numbers_in_use(occupancy: Occupancy) -> int:
    """The highest message number the occupancy holds: in its history or its sessions."""
    history = occupancy.view.history
    highest = 0 if history is None else history.newest_number()
    for sessions in (occupancy.attached, occupancy.pending, occupancy.leaving):
        for a in sessions.values():
            place = 0 if a.position is None else highest_number(a.position)
            bounced = 0 if a.bounced is None else a.bounced[-1]
            highest = max(highest, a.since, place, bounced)
    return highest


class Table:
    """All accounts the router knows, by bare JID, and how many are in each room.

    An occupancy joins an account's ``rooms`` through :meth:`enter` and leaves through
    :meth:`leave` (or its account through :meth:`add` and :meth:`remove`), so that
    ``occupied`` stays the count of the account's rooms.
    """

    __slots__ = ("accounts", "occupied")

    def __init__(self) -> None:
        self.accounts: dict[JID, Account] = {}
        self.occupied: dict[str, int] = {}
        """Room bare JID as text -> how many accounts have an occupancy of it (at least
        one). A room message's payload is worth keeping for other local accounts only
        when this is two or more (``Core.share_message``)."""

    def enter(self, account: Account, occupancy: Occupancy) -> None:
        """``occupancy`` is the account's in its room from now on (it had none there)."""
        account.rooms[occupancy.room] = occupancy
        self._occupy(occupancy.room_text)

    def leave(self, account: Account, room: JID) -> None:
        """The account's occupancy of ``room`` is gone."""
        self._vacate(account.rooms.pop(room).room_text)

    def _occupy(self, room: str) -> None:
        self.occupied[room] = self.occupied.get(room, 0) + 1

    def _vacate(self, room: str) -> None:
        left = self.occupied[room] - 1
        if left:
            self.occupied[room] = left
        else:
            del self.occupied[room]

    def shared(self, room: str) -> bool:
        """Another local account is in ``room`` (bare JID as text) too."""
        return self.occupied.get(room, 0) > 1

    def add(self, account: Account) -> None:
        """Hold ``account`` (new to the table) with the occupancies it has."""
        self.accounts[account.jid] = account
        for occupancy in account.rooms.values():
            self._occupy(occupancy.room_text)

    def remove(self, jid: JID) -> Account | None:
        """Drop the account ``jid`` with its occupancies; it, or ``None`` if not held."""
        account = self.accounts.pop(jid, None)
        if account is not None:
            for occupancy in account.rooms.values():
                self._vacate(occupancy.room_text)
        return account

    def account(self, jid: JID) -> Account:
        """The account's entry, created on first use."""
        account = self.accounts.get(jid)
        if account is None:
            account = self.accounts[jid] = Account(jid)
        return account
