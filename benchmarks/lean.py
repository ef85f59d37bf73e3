"""The least Python can do per room message (and per late join) with the router's features.

A baseline, not a router: it shows what a groupchat message must cost in CPython once
history, archive and duplicate detection are kept, so the fan-out figures can be read
against it as well as against the floor (which keeps none of them) and the naive port
(which keeps none of them either and copies deeply).

Per message, with everything already in place (no event object, no checks of the host's
input, no state machine, no presence, no bounds in bytes): two dict lookups, the room's
by its parts as a plain tuple; one pass over the payload for the room's stanza-id and
whether the message is one to keep, adding up the size memos the parser left; the
stanza-id itself as the key (no hashing); one bounded, numbered memory of the keys seen
(which is also what tells a repeat); a history buffer of tuples bounded by its deque;
one :class:`~minimix_core.Archive` and, per session, a fork and its
:class:`~minimix_core.Deliver`, all built as plain tuples as the router builds them. Late
join: the room's cache found by one lookup on the four parts of the account and the room.

:func:`lean_fanout_exact` also does the two things per message the router's design cannot drop:
the message's size counted in characters of the whole stanza, as a history's ``maxchars``
limit counts them (XEP-0045 §7.2.14; the lean size adds up the payload's memos only), and
a key of bounded size (a room's ids have no length limit, and the memory of keys is
bounded by count: a long id is hashed), both with the router's own functions.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from minimix_core import (
    JID,
    Action,
    Archive,
    Config,
    Continue,
    Deliver,
    Discard,
    DiscardReason,
    Element,
    FromSession,
    LocalProtocolError,
    Send,
    Stanza,
    ToAccount,
)
from minimix_core._history import (
    _DELAY_SIZE,
    _DIGEST_CHARS,
    _HEX,
    _IS_BODY,
    _IS_DELAY,
    _IS_STANZA_ID,
    _IS_STORABLE,
    _IS_SUBJECT,
    _IS_THREAD,
    _LONGEST_ID_KEY,
    _NO_ROLE,
    _TAGS,
    GROUPCHAT_TAGS,
    _envelope,
    _tag_info,
    key_of,
)
from minimix_core._presence import _RANK, _SHOW, NOT_FOR_THE_ROOM
from minimix_core._recent import RecentKeys
from minimix_core._stanza import element_size
from minimix_core._synth import _self_payload

__all__ = [
    "Dutiful",
    "DutifulJoin",
    "DutifulJoinAccount",
    "DutifulJoinView",
    "DutifulOccupancy",
    "DutifulTable",
    "LeanJoinTable",
    "LeanOccupancy",
    "LeanTable",
    "LeanView",
    "lean_fanout",
    "lean_fanout_exact",
    "lean_late_join",
]

_BODY = "{jabber:client}body"
_STANZA_ID = "{urn:xmpp:sid:0}stanza-id"
_MUC_X = "{http://jabber.org/protocol/muc}x"
_HISTORY_REQUEST = "{http://jabber.org/protocol/muc}history"
_BOUND = 256
_HISTORY = 50
_new = tuple.__new__
_LATEST = 253402300799.0  # the end of year 9999, as Router.handle takes it
_ROOM_POOL = 16
"""Messages a room's payload pool keeps in :class:`Dutiful`: a room sends each message to
its local accounts in one burst, so a few span it, and memory grows with the rooms, not
with their messages."""


class LeanOccupancy:
    """One account's standing in one room, reduced to what a message touches."""

    __slots__ = ("history", "last", "room", "seen", "sessions")

    def __init__(self, room: JID, sessions: list[JID]) -> None:
        self.room = str(room)
        self.sessions = sessions
        self.seen: OrderedDict[str, int] = OrderedDict()
        self.last = 0
        self.history: deque[tuple[Stanza, float, str, int, int]] = deque(maxlen=_HISTORY)


LeanTable = dict[JID, dict[tuple[str | None, str], LeanOccupancy]]
"""Account bare JID -> the room's (localpart, domain) -> the occupancy."""


def lean_fanout(table: LeanTable, stanza: Stanza, now: float) -> list[Action]:
    """History, archive, duplicate detection and forks for one groupchat message."""
    kind, type_, sender, to, id_, attrs, children = stanza
    if to is None or sender is None:
        return []
    occupancy = table[to][sender[0], sender[1]]
    room = occupancy.room
    key = None
    keep = False
    size = 0
    for child in children:
        size += child._size
        tag = child.tag
        if tag == _BODY:
            keep = True
        elif tag == _STANZA_ID:
            by = found = None
            for name, value in child.attrs:
                if name == "by":
                    by = value
                elif name == "id":
                    found = value
            if by == room:
                key = found
    if key is None or not keep:
        return []
    seen = occupancy.seen
    if key in seen:
        return []
    last = occupancy.last = occupancy.last + 1
    seen[key] = last
    if last > _BOUND:  # one key per number: the count is known without len()
        seen.popitem(last=False)
    occupancy.history.append((stanza, now, key, size, last))
    new = _new
    actions: list[Action] = [new(Archive, (to, stanza))]
    for session in occupancy.sessions:
        actions.append(
            new(
                Deliver,
                (session, new(Stanza, (kind, type_, sender, session, id_, attrs, children))),
            )
        )
    return actions


def lean_fanout_exact(table: LeanTable, stanza: Stanza, now: float) -> list[Action]:
    """:func:`lean_fanout` with the message's exact size and a key of bounded size."""
    kind, type_, sender, to, id_, attrs, children = stanza
    if to is None or sender is None:
        return []
    occupancy = table[to][sender[0], sender[1]]
    room = occupancy.room
    key = None
    keep = False
    size = _envelope(stanza)
    for child in children:
        size += child._size
        tag = child.tag
        if tag == _BODY:
            keep = True
        elif tag == _STANZA_ID:
            by = found = None
            for name, value in child.attrs:
                if name == "by":
                    by = value
                elif name == "id":
                    found = value
            if by == room:
                key = found
    if key is None or not keep:
        return []
    key = key_of(stanza, key)
    seen = occupancy.seen
    if key in seen:
        return []
    last = occupancy.last = occupancy.last + 1
    seen[key] = last
    if last > _BOUND:
        seen.popitem(last=False)
    occupancy.history.append((stanza, now, key, size, last))
    new = _new
    actions: list[Action] = [new(Archive, (to, stanza))]
    for session in occupancy.sessions:
        actions.append(
            new(
                Deliver,
                (session, new(Stanza, (kind, type_, sender, session, id_, attrs, children))),
            )
        )
    return actions


class LeanView:
    """What a late join reads of one account's standing in a room: the room's cache."""

    __slots__ = ("occupants", "self_presence", "sessions", "subject")

    def __init__(self, occupants: list[Stanza], self_presence: Stanza, subject: Stanza) -> None:
        self.occupants = occupants
        self.self_presence = self_presence
        self.subject = subject
        self.sessions: dict[JID, str | None] = {}


LeanJoinTable = dict[tuple[str | None, str, str | None, str], LeanView]
"""(the account's localpart and domain, the room's localpart and domain) -> the room's cache."""


def lean_late_join(table: LeanJoinTable, session: JID, join: Stanza) -> list[Action]:
    """A session's join answered from the cache, doing only what every late join must.

    Find the account's room; read the join's history request (XEP-0045 §7.2.14; none is
    kept here, as the benchmark's joins ask for none and the history is empty); note the
    session and its join's ``id``; then each occupant's presence, the self-presence
    carrying the join's ``id`` (§7.2.1: the client matches it) and the subject, each a
    copy with ``to`` changed in a :class:`~minimix_core.Deliver`, built as plain tuples as
    the router builds them. No event, no checks, no state machine, no nick, status or
    presence bookkeeping.
    """
    to = join.to
    if to is None:
        return []
    view = table[session[0], session[1], to[0], to[1]]
    for child in join.children:
        if child.tag == _MUC_X:
            for request in child.children:
                if request.tag == _HISTORY_REQUEST:
                    break
            break
    join_id = join.id
    view.sessions[session] = join_id
    out: list[Action] = [
        _new(Deliver, (session, _new(Stanza, (kind, type_, from_, session, id_, attrs, payload))))
        for kind, type_, from_, _, id_, attrs, payload in view.occupants
    ]
    kind, type_, from_, _, _, attrs, payload = view.self_presence
    own = _new(Stanza, (kind, type_, from_, session, join_id, attrs, payload))
    out.append(_new(Deliver, (session, own)))
    kind, type_, from_, _, id_, attrs, payload = view.subject
    subject = _new(Stanza, (kind, type_, from_, session, id_, attrs, payload))
    out.append(_new(Deliver, (session, subject)))
    return out


class DutifulOccupancy:
    """One account's standing in one room with what a message must check and keep.

    The bounds are copied in from the :class:`~minimix_core.Config` at construction (a
    router reads them from its config; here they cost a slot read, the least they can).
    ``base`` is the part of the message's size its checks make known: the tags of a
    groupchat message, its ``from`` without the nick and its ``to`` (the account).
    """

    __slots__ = (
        "archive",
        "attached",
        "base",
        "descents",
        "history",
        "history_bytes",
        "jid",
        "joined",
        "last",
        "last_message_at",
        "last_seen",
        "max_history_bytes",
        "max_history_messages",
        "max_remembered",
        "memories",
        "newest",
        "passed",
        "pool",
        "recent",
        "resync",
        "room",
        "seen",
    )

    def __init__(
        self,
        account: JID,
        room: JID,
        sessions: list[JID],
        config: Config,
        pool: dict[str, tuple[tuple[Element, ...], int]] | None = None,
    ) -> None:
        self.jid = room
        self.pool = pool
        """The room's payloads by key, one dict for every local account in the room;
        ``None`` while the account is its only local one (as the router: nobody to share
        with, no pool)."""
        self.room = str(room)
        self.base = GROUPCHAT_TAGS + len(self.room) + 9 + len(str(account)) + 8
        self.memories: dict[JID, DutifulOccupancy] = {room: self}
        """The account's memory of rooms, the most recently used last."""
        self.attached = dict.fromkeys(sessions)
        self.joined = True
        self.resync: object = None
        self.last_seen = 0.0
        self.passed: OrderedDict[str, None] = OrderedDict()
        self.seen: OrderedDict[str, int] = OrderedDict()
        self.recent: tuple[RecentKeys[None], RecentKeys[int]] = (RecentKeys(), RecentKeys())
        """The keys passed on and seen as the router keeps them, for the model with sharing."""
        self.last = 0
        self.newest = 0
        self.descents = 0
        self.history: deque[tuple[Stanza, float, str, int, int, bool]] = deque()
        self.history_bytes = 0
        self.last_message_at = 0.0
        self.archive = config.archive
        self.max_remembered = config.max_remembered_messages
        self.max_history_messages = config.max_history_messages
        self.max_history_bytes = config.max_history_bytes


DutifulTable = dict[JID, dict[tuple[str | None, str], DutifulOccupancy]]
"""Account bare JID -> the room's (localpart, domain) -> the occupancy."""


class Dutiful:
    """The lean model with every duty the router has towards one groupchat message.

    What :func:`lean_fanout` with ``exact`` does, plus what the router's behaviour asks
    of each message, each in the least Python can do and all in one function:

    - :meth:`~minimix_core.Router.handle`'s contract: the event and the stanza of the
      types it takes, ``to`` a bare JID, ``now`` a float of seconds that does not go back
      (a misuse raises and changes nothing);
    - a stanza from no one is answered (``Discard``), one for no occupancy passed on
      (``Continue``): every stanza gets an action;
    - the room is heard from (``last_seen``, for the keep-alive, XEP-0410), a resync
      in progress is looked at, the occupancy's state decides who gets the message;
    - the payload is read for all it may hold: body, subject, thread, storage hints
      (XEP-0334), delay (XEP-0203), stanza-ids by the room and by anyone else (a spoof
      the archive must not get, XEP-0359 §5), and the exact size with each child's
      namespace declaration (XEP-0045 §7.2.14 counts characters);
    - the history is bounded in bytes as well as in messages, its entries say when and
      whether private, and it counts entries out of order; the room's last message time
      is kept (a rejoin asks for history since then, §7.2.14);
    - a device that is away is told of the message (``Unattended``).

    With ``shared``, also what the router does for memory: the payload kept once for every
    local account in the room (in a room with more than one, as the router: an occupancy
    given a ``pool``), the account's memory of rooms kept in order of use (the least
    recently used goes at ``max_rooms_per_account``), and the message keys kept as the
    router keeps them, their order in a list beside each dict
    (:class:`~minimix_core._recent.RecentKeys`: an ``OrderedDict``'s links take some 48
    bytes more a key, 25 KB more for a busy occupancy's 512 keys). The sharing is the
    cheapest design known for it, not the router's: a pool per room, reached from the
    occupancy and keyed by the message's key alone, of the room's last :data:`_ROOM_POOL`
    messages (the router keeps one pool for the process, keyed by room and key, bounded
    in messages and bytes).
    Left out: version 2 snapshot keys, a ``by`` written in other capitals, and every branch
    the measured message does not take (those return at once, unfinished).
    """

    __slots__ = ("config", "now", "shared", "table")

    def __init__(self, table: DutifulTable, config: Config, *, shared: bool = False) -> None:
        self.table = table
        self.config = config
        self.shared = shared
        self.now = 0.0

    def handle(self, event: object, *, now: float) -> list[Action]:
        """Route one :class:`~minimix_core.ToAccount` groupchat message."""
        if not (type(now) is float and 0.0 <= self.now <= now <= _LATEST):
            raise LocalProtocolError("now")
        if type(event) is not ToAccount:
            raise LocalProtocolError("event")
        stanza = event.stanza
        to = stanza.to if type(stanza) is Stanza else None
        if type(to) is not JID or to.resource is not None:
            raise LocalProtocolError("to")
        self.now = now
        kind, type_, sender, _, id_, attrs, children = stanza
        if sender is None:
            return [Discard(stanza=stanza, reason=DiscardReason.MALFORMED)]
        rooms = self.table.get(to)
        occupancy = None if rooms is None else rooms.get((sender[0], sender[1]))
        if occupancy is None:
            return [Continue(stanza=stanza)]
        nick = sender.resource
        if kind != "message" or type_ != "groupchat" or nick is None:
            return []  # the state machine's, not this model's
        occupancy.last_seen = now
        if occupancy.resync is not None:
            return []
        room = occupancy.room
        body = subject = thread = storable = not_stored = foreign = False
        stanza_id: str | None = None
        delay: Element | None = None
        size = occupancy.base + len(nick)
        if id_ is not None:
            size += len(id_) + 8
        tags = _TAGS
        for child in children:
            tag = child.tag
            info = tags.get(tag)
            if info is None:
                info = _tag_info(tag)
            extra, role = info
            child_size = child._size
            size += element_size(child) if child_size < 0 else child_size + extra
            if role == _NO_ROLE:
                continue
            if role == _IS_BODY:
                body = True
            elif role == _IS_STANZA_ID:
                found_by = found_id = None
                for name, value in child.attrs:
                    if name == "by":
                        found_by = value
                    elif name == "id":
                        found_id = value
                if found_id is None or found_by != room:
                    foreign = True
                elif stanza_id is None:
                    stanza_id = found_id
            elif role == _IS_DELAY:
                if delay is None:
                    delay = child
            elif role == _IS_SUBJECT:
                subject = True
            elif role == _IS_THREAD:
                thread = True
            elif role == _IS_STORABLE:
                storable = True
            else:
                not_stored = True
        if not_stored or not (body or (storable and not (subject and not thread))):
            return []
        if (
            stanza_id is not None
            and len(stanza_id) <= _LONGEST_ID_KEY
            and (len(stanza_id) != _DIGEST_CHARS or not _HEX.issuperset(stanza_id))
        ):
            key = stanza_id  # key_of(stanza, stanza_id), for a short id
        else:
            key = key_of(stanza, stanza_id)
        bound = occupancy.max_remembered
        if self.shared:
            # The router's keys: their order in a list beside each dict (RecentKeys, 8 B a
            # key, where an OrderedDict's links take 56), added as its hot path adds them.
            recent, recent_seen = occupancy.recent
            if key in recent:
                return [Discard(stanza=stanza, reason=DiscardReason.DUPLICATE)]
            recent[key] = None
            recent.order.append(key)
            if len(recent) > bound:
                recent.forget_oldest()
            if key in recent_seen:
                return []
            number = occupancy.last = occupancy.last + 1
            recent_seen[key] = number
            recent_seen.order.append(key)
            if len(recent_seen) > bound:
                recent_seen.forget_oldest()
        else:
            passed = occupancy.passed
            if key in passed:
                return [Discard(stanza=stanza, reason=DiscardReason.DUPLICATE)]
            passed[key] = None
            if len(passed) > bound:
                passed.popitem(last=False)
            seen = occupancy.seen
            if key in seen:
                return []
            number = occupancy.last = occupancy.last + 1
            seen[key] = number
            if len(seen) > bound:
                seen.popitem(last=False)
        if delay is not None:
            return []  # the stamp's branch: not the measured message's
        size += _DELAY_SIZE + len(room)
        kept = stanza
        if self.shared:
            memories = occupancy.memories
            if next(reversed(memories.values())) is not occupancy:
                memories[occupancy.jid] = memories.pop(occupancy.jid)
            pool = occupancy.pool
            if pool is not None:
                found = pool.get(key)
                if found is None:
                    if size <= self.config.max_shared_payload_bytes:
                        if len(pool) >= _ROOM_POOL:
                            del pool[next(iter(pool))]
                        pool[key] = (children, size)
                elif found[0] is not children and found[0] == children:
                    kept = stanza._replace(children=found[0])
        history = occupancy.history
        if number < occupancy.newest and history:
            occupancy.descents += 1
        occupancy.newest = number
        history.append((kept, now, key, size, number, False))
        occupancy.history_bytes += size
        while (
            len(history) > occupancy.max_history_messages
            or occupancy.history_bytes > occupancy.max_history_bytes
        ):
            old = history.popleft()
            occupancy.history_bytes -= old[3]
            if occupancy.descents and history and history[0][4] < old[4]:
                occupancy.descents -= 1
        if now > occupancy.last_message_at:  # noqa: PLR1730 (max() is a call: it costs more)
            occupancy.last_message_at = now
        actions: list[Action] = []
        if occupancy.archive:
            if foreign:
                return []
            actions.append(_new(Archive, (to, stanza)))
        attached = occupancy.attached
        if not attached and occupancy.joined:
            return []
        for session in attached:
            fork = _new(Stanza, (kind, type_, sender, session, id_, attrs, children))
            actions.append(_new(Deliver, (session, fork)))
        return actions


class DutifulJoinView:
    """One account's standing in one room with what a late join reads and keeps."""

    __slots__ = (
        "attached",
        "flags",
        "history",
        "joined",
        "nick",
        "occupants",
        "own",
        "room",
        "room_presence",
        "self_presence",
        "sent_payload",
        "subject",
    )

    def __init__(self, room: JID, nick: str, self_presence: Stanza, subject: Stanza) -> None:
        self.room = room
        self.nick = nick
        self.self_presence = self_presence
        self.subject: Stanza | None = subject
        self.room_presence: Stanza | None = None
        self.occupants: dict[str, Stanza] = {}
        self.flags: frozenset[int] = frozenset()
        self.own: list[tuple[Element, ...] | None] = [None, None]
        """The self-presence's payload for a session under the room's nick, and renamed:
        made once (a router would make them again when the self-presence or flags change)."""
        self.history: object = None
        self.joined = True
        self.attached: dict[JID, tuple[str | None, str, tuple[Element, ...], int, int]] = {}
        """Session -> its join's id, the nick it asked for, its presence's payload, its
        turn, and that payload's rank (its ``<show/>``)."""
        self.sent_payload: tuple[Element, ...] = ()


class DutifulJoinAccount:
    """The account's part of a late join: its rooms, memory, blocked bookmarks, sessions."""

    __slots__ = ("blocked", "jid", "links", "memory", "rooms")

    def __init__(self, jid: JID) -> None:
        self.jid = jid
        self.rooms: dict[tuple[str | None, str], DutifulJoinView] = {}
        self.memory: dict[JID, object] = {}
        self.blocked: dict[JID, object] = {}
        self.links: dict[JID, dict[JID, None]] = {}


class DutifulJoin:
    """The lean late join with every duty the router has towards a session's join.

    What :func:`lean_late_join` does, plus what the router's behaviour asks of a join of
    a room the account is in, in one function: :meth:`~minimix_core.Router.handle`'s
    contract (the event, a full session JID, ``now``), a ``from`` forged by the session
    refused, the room found for the account, a nick change told apart from a join, the
    session's presence kept for the account's (what is not for the room left out) with its
    rank, its turn numbered, the account's memory of the room and its blocked bookmark
    looked at, the room's session limit checked, the session attached (last) and linked
    to the room, the history asked for looked at, the self-presence's status codes made
    for the session (110, the room's flags, 210 when renamed), the room's own presence if
    it sent one, the nick policy, and the account's presence in the room made again from
    its sessions' (XEP-0045 has one presence per occupant), sent when it changed. Every
    branch the measured join does not take returns at once, unfinished.
    """

    __slots__ = ("follow", "max_sessions", "now", "seq", "table")

    def __init__(self, account: DutifulJoinAccount, config: Config, seq: int) -> None:
        self.table = {(account.jid[0], account.jid[1]): account}
        self.follow = config.nick_policy == "follow"
        self.max_sessions = config.max_sessions_per_room
        self.now = 0.0
        self.seq = seq

    def handle(self, event: object, *, now: float) -> list[Action]:
        """Answer one :class:`~minimix_core.FromSession` join of a joined room."""
        if not (type(now) is float and 0.0 <= self.now <= now <= _LATEST):
            raise LocalProtocolError("now")
        if type(event) is not FromSession:
            raise LocalProtocolError("event")
        session, stanza = event.session, event.stanza
        if type(session) is not JID or session.resource is None or type(stanza) is not Stanza:
            raise LocalProtocolError("session")
        self.now = now
        kind, type_, from_, to, join_id, _, children = stanza
        if from_ is not None and from_ not in (session, session.bare):
            return [Discard(stanza=stanza, reason=DiscardReason.FORGED_FROM)]
        if to is None:
            return [Continue(stanza=stanza)]
        account = self.table.get((session[0], session[1]))
        if account is None:
            return []  # not this model's
        view = account.rooms.get((to[0], to[1]))
        if view is None or kind != "presence" or type_ is not None:
            return []  # not this model's
        nick = to[2]
        attached = view.attached
        if session in attached and nick and nick != view.nick:
            return []  # a nick change
        # One pass: the MUC <x/>, the payload for the room, its rank.
        muc = None
        kept: list[Element] = []
        rank = 1
        ranked = False
        for child in children:
            tag = child.tag
            if tag in NOT_FOR_THE_ROOM:
                if muc is None and tag == _MUC_X:
                    muc = child
                continue
            kept.append(child)
            if not ranked and tag == _SHOW:
                rank = _RANK.get(child.text, 1)
                ranked = True
        if muc is None or nick is None:
            return []  # a presence update, or a join refused
        for request in muc.children:
            if request.tag == _HISTORY_REQUEST:
                return []  # the history asked for: not the measured join's
        payload = tuple(kept)
        seq = self.seq = self.seq + 1
        room = view.room
        memory = account.memory
        if memory and memory.get(room) is not None:
            return []  # positions and the last message seen: not the measured join's
        if session not in attached and len(attached) >= self.max_sessions:
            return []
        blocked = account.blocked
        if blocked:
            blocked.pop(room, None)
        if not attached:
            return []  # the disconnect grace: not the measured join's
        attached.pop(session, None)
        attached[session] = (join_id, nick, payload, seq, rank)
        links = account.links.get(session)
        if links is None:
            links = account.links[session] = {}
        links[room] = None
        if not view.joined or view.history is not None:
            return []  # rejoining, or history to replay: not the measured join's
        new = _new
        out: list[Action] = []
        if view.room_presence is not None:
            k, t, f, _, i, a, p = view.room_presence
            out.append(new(Deliver, (session, new(Stanza, (k, t, f, session, i, a, p)))))
        out += [
            new(Deliver, (session, new(Stanza, (k, t, f, session, i, a, p))))
            for k, t, f, _, i, a, p in view.occupants.values()
        ]
        renamed = view.nick != nick
        k, t, f, _, _, a, p = view.self_presence
        own = view.own[renamed]
        if own is None:
            own = view.own[renamed] = _self_payload(p, view.flags, renamed)
        out.append(new(Deliver, (session, new(Stanza, (k, t, f, session, join_id, a, own)))))
        if view.subject is not None:
            k, t, f, _, i, a, p = view.subject
            out.append(new(Deliver, (session, new(Stanza, (k, t, f, session, i, a, p)))))
        if renamed and self.follow:
            return []  # the nick the session asked for: not the measured join's
        best: tuple[Element, ...] = ()
        best_rank = best_seq = -1
        for _, _, presence, turn, known in attached.values():
            if best_rank < 0 or known < best_rank or (known == best_rank and turn > best_seq):
                best, best_rank, best_seq = presence, known, turn
        if best != view.sent_payload:
            view.sent_payload = best
            update = Stanza("presence", from_=account.jid, to=room.with_resource(view.nick))
            out.append(Send(stanza=update._replace(children=best)))
        return out
