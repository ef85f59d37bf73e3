"""Snapshots: everything a router knows, as JSON-safe data, and back.

The format is versioned. Stanzas are kept as nested lists (never as XML text, which only
the XML edge writes). Version 4 is compact, about 0.5 KB of JSON per occupancy:

- ``payloads``: each distinct payload once, ``[children]`` or ``[children, attrs]``; an
  element is ``[tag, attrs, children, text, tail]`` without its trailing empty fields.
- a stanza is ``[payload, kind, type, from, to, id]`` (trailing ``null`` left out); in an
  account, its own JID is ``""`` and a full JID of the room (of the account, for
  sessions) is ``"/resource"``.
- occupancies and room views use short keys and leave out fields at their default.
- ``accounts[].jid``, ``accounts[].sessions[][0]`` and ``accounts[].rooms[].room`` are
  full JIDs: hosts read them. Timers name their account and room by their place.

- a device's place (:mod:`~minimix_core._place`), in the account's memory of a room and
  in a session's attachment, is a number, or a list of numbers when the place has a gap;
  a session's bounced messages are a list of numbers.

Version 3 differs only in its bounced messages: one number, the oldest, the device having
missed every message after it too; on load, those after it that the history holds count
as missed (:func:`_load_bounced`). Its places are all numbers.
Version 2 also differs in its message keys: each was a hash, where version 3 keeps a
short stanza-id as it is (:func:`~minimix_core._history.message_key`). On load, the
keys of the messages an occupancy's history holds are made again, and the others are
looked up by their version 2 hash while any may be left (:func:`~minimix_core._snapshot_fit.rekey`).
Version 1 (inline payloads, full JIDs, long keys) is read by :func:`upgrade_v1`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Final

from ._config import Config
from ._core import LATEST, Core, TimerKey, keepalive_timer
from ._events import Bookmark
from ._history import History
from ._jid import JID
from ._lifecycle import ROOM_TIMERS, OccupancyState
from ._place import Place
from ._recent import RecentKeys
from ._restart import after_restart
from ._sessions import (
    NO_ENTRIES,
    Attachment,
    NickChange,
    PendingIQ,
    Sessions,
    add_session,
    writable,
)
from ._snapshot_check import DAMAGE, check_deadline, check_states, label, within
from ._snapshot_codec import (
    Json,
    Reader,
    SnapshotError,
    Writer,
    array,
    flag,
    maybe_string,
    moment,
    seconds,
    string,
    whole,
)
from ._snapshot_fit import fit, rekey
from ._snapshot_v1 import upgrade_v1
from ._stanza import payload_size
from ._table import EARLIER_JOINS, Account, Occupancy, RoomMemory, RoomView, flag_set

__all__ = ["FORMAT", "VERSION", "SnapshotError", "adopt_into", "dump_core", "load_core"]

FORMAT: Final = "minimix_core.snapshot"
VERSION: Final = 5
_READ: Final = (1, 2, 3, 4, VERSION)
_JID_TIMERS: Final = frozenset(("forget", "ping", *ROOM_TIMERS))
"""The kinds of timer whose detail is a JID; an ``iq`` timer's is the IQ's id."""


def _attachments(w: Writer, group: Sessions) -> Json:
    out = []
    for s, a in group.items():
        item = [
            w.jid(s, w.account),
            a.join_id,
            a.nick,
            w.stanza(a.request),
            w.payload(a.payload),
            a.seq,
        ]
        bounced = None if a.bounced is None else list(a.bounced)
        more = [_place(a.position), a.since, bounced, a.left, a.leave_id]
        if more != [None, 0, None, False, None]:
            item.append(more)
        out.append(item)
    return out


def _load_attachments(
    r: Reader, data: Json, history: History | None, *, waiting: bool = False
) -> Sessions:
    """A group of sessions; ``waiting`` ones (pending) must have the join they asked with.

    ``history`` is the occupancy's: what a version 3 bounce means is read from it.
    """
    out: Sessions = NO_ENTRIES
    for session, join_id, nick, request, payload, seq, *more in map(array, array(data)):
        if waiting and request is None:
            # The account's next join is made from it (send_join).
            raise SnapshotError("a waiting session without its join request")
        attachment = Attachment(
            join_id=maybe_string(join_id),
            nick=string(nick),
            request=r.maybe_stanza(request),
            payload=r.payload(payload),
            seq=whole(seq),
        )
        out = add_session(out, r.full(session, r.account), attachment)
        if more:  # version 1 had none of these; version 2 leaves out the defaults
            [[position, since, bounced, left, leave_id]] = map(array, more)
            attachment.position = None if position is None else _load_place(position)
            attachment.since = whole(since)
            attachment.bounced = None if bounced is None else _load_bounced(bounced, history)
            attachment.left = flag(left)
            attachment.leave_id = maybe_string(leave_id)
    return out


def _place(place: Place | None) -> Json:
    """A place as written: its number, or a list of its numbers when it has a gap."""
    return place if place is None or isinstance(place, int) else list(place)


def _load_place(data: Json) -> Place:
    if isinstance(data, list):
        if len(data) < 2:
            raise SnapshotError("a place with a gap names no message after it")
        return tuple(whole(n) for n in data)
    return whole(data)


def _load_bounced(data: Json, history: History | None) -> tuple[int, ...]:
    """The messages that bounced; before version 4, the oldest one, and all after it missed.

    Those after it the history holds are missed too; no device can get the others again.
    """
    if isinstance(data, list):
        return tuple(whole(n) for n in data)
    first = whole(data)
    return (None if history is None else history.numbers_from(first)) or (first,)


def _trimmed(
    fields: dict[str, Json], defaults: Mapping[str, Json], short: Mapping[str, str]
) -> dict[str, Json]:
    """``fields`` under their short keys, without those at their default value."""
    return {short[k]: v for k, v in fields.items() if k not in defaults or v != defaults[k]}


def _expanded(
    data: Mapping[str, Json], defaults: Mapping[str, Json], long: Mapping[str, str]
) -> dict[str, Json]:
    """The inverse of :func:`_trimmed` (long keys, as version 1's upgrade writes, pass)."""
    return {**defaults, **{long.get(k, k): v for k, v in data.items()}}


_VIEW_KEYS: Final[Mapping[str, str]] = {
    "nick": "n",
    "self": "s",
    "occupants": "o",
    "room_presence": "rp",
    "subject": "t",
    "flags": "f",
    "created": "c",
    "history": "h",
    "passed": "k",
    "last_message_at": "lm",
    "joined_at": "ja",
    "partial": "pt",
}
_OCCUPANCY_KEYS: Final[Mapping[str, str]] = {
    "room": "room",  # hosts read it (the rooms an account holds)
    "state": "s",
    "join": "j",
    "request_id": "q",
    "earlier": "er",
    "view": "v",
    "joiner": "by",
    "attached": "a",
    "pending": "p",
    "leaving": "l",
    "sent_ids": "ids",
    "sent_payload": "sp",
    "nick_change": "nc",
    "last_seen": "ls",
    "ping_id": "pi",
    "ping_failures": "pf",
    "rejoin_attempts": "ra",
    "left_id": "li",
    "restored": "rd",
    "resync": "rs",
    "withheld": "wh",
}
_LONG_VIEW_KEYS: Final = {v: k for k, v in _VIEW_KEYS.items()}
_LONG_OCCUPANCY_KEYS: Final = {v: k for k, v in _OCCUPANCY_KEYS.items()}


_VIEW_DEFAULTS: Final[Mapping[str, Json]] = {
    "nick": None,
    "self": None,
    "occupants": [],
    "room_presence": None,
    "subject": None,
    "flags": [],
    "created": False,
    "history": None,
    "passed": [],
    "last_message_at": None,
    "joined_at": 0.0,
    "partial": False,
}


def _view(w: Writer, v: RoomView) -> Json:
    history = v.history
    return _trimmed(
        {
            "nick": v.nick,
            "self": w.stanza(v.self_presence),
            # An occupant's nick is its presence's resource, unless written before it.
            "occupants": [
                [w.stanza(p)] if p.from_ is not None and p.from_.resource == n else [n, w.stanza(p)]
                for n, p in v.occupants.items()
            ],
            "room_presence": w.stanza(v.room_presence),
            "subject": w.stanza(v.subject),
            "flags": sorted(v.flags),
            "created": v.created,
            "history": None if history is None else history.dump(w.stanza),
            "passed": [] if v.passed is None else list(v.passed),
            "last_message_at": v.last_message_at,
            "joined_at": v.joined_at,
            "partial": v.partial,
        },
        _VIEW_DEFAULTS,
        _VIEW_KEYS,
    )


def _load_view(r: Reader, data: Json) -> RoomView:
    data = _expanded(data, _VIEW_DEFAULTS, _LONG_VIEW_KEYS)
    v = RoomView()
    v.nick = maybe_string(data["nick"])
    v.self_presence = r.maybe_stanza(data["self"])
    for *named, p in map(array, array(data["occupants"])):
        presence = r.stanza(p)
        nick = string(named[0]) if named else presence.from_ and presence.from_.resource
        if nick is None:
            raise SnapshotError("an occupant without a nick")
        v.occupants = writable(v.occupants)
        v.occupants[nick] = presence
    v.occupant_bytes = sum(payload_size(p.children) for p in v.occupants.values())
    v.room_presence = r.maybe_stanza(data["room_presence"])
    v.subject = r.maybe_stanza(data["subject"])
    v.flags = flag_set(whole(f) for f in array(data["flags"]))
    v.created = flag(data["created"])
    if data["history"] is not None:
        v.history = History.load(array(data["history"]), r.history_entry)
    v.passed = RecentKeys((r.key(k), None) for k in array(data["passed"])) or None
    at = data["last_message_at"]
    v.last_message_at = None if at is None else moment(at)
    v.joined_at = moment(data["joined_at"])
    v.partial = flag(data["partial"])
    return v


_OCCUPANCY_DEFAULTS: Final[Mapping[str, Json]] = {
    "request_id": None,
    "earlier": [],
    "joiner": None,
    "attached": [],
    "pending": [],
    "leaving": [],
    "sent_ids": [],
    "sent_payload": [],
    "nick_change": None,
    "last_seen": 0.0,
    "ping_id": None,
    "ping_failures": 0,
    "rejoin_attempts": 0,
    "left_id": None,
    "restored": False,
    "resync": None,
    "withheld": [],
}


def _occupancy(w: Writer, o: Occupancy, account_jid: JID) -> Json:
    change = o.nick_change
    w.room = str(o.room)
    account = w.account
    return _trimmed(
        {
            "room": w.room,
            "state": o.state.value,
            "join": w.stanza(o.join_from(account_jid)),
            "request_id": o.request_id,
            "earlier": list(o.earlier),
            "view": _view(w, o.view),
            "joiner": w.jid(o.joiner, account),
            "attached": _attachments(w, o.attached),
            "pending": _attachments(w, o.pending),
            "leaving": _attachments(w, o.leaving),
            "sent_ids": []
            if o.sent_ids is None
            else [[i, w.jid(s, account)] for i, s in o.sent_ids.items()],
            "sent_payload": [] if not o.sent_payload else w.payload(o.sent_payload),
            "nick_change": None
            if change is None
            else [
                w.jid(change.session, account),
                change.nick,
                change.request_id,
                change.sent_id,
                change.resync,
            ],
            "last_seen": o.last_seen,
            "ping_id": o.ping_id,
            "ping_failures": o.ping_failures,
            "rejoin_attempts": o.attempts,
            "restored": o.restored,
            "resync": None if o.resync is None else list(o.resync),
            "withheld": [[n, m] for n, m in o.withheld],
        },
        _OCCUPANCY_DEFAULTS,
        _OCCUPANCY_KEYS,
    )


def _load_occupancy(r: Reader, data: Json) -> Occupancy:
    data = _expanded(data, _OCCUPANCY_DEFAULTS, _LONG_OCCUPANCY_KEYS)
    room = JID.parse(data["room"])
    r.room = room
    account = r.account
    o = Occupancy(room, r.stanza(data["join"]))
    o.state = OccupancyState(data["state"])
    if o.state is OccupancyState.ABSENT:
        raise SnapshotError("an occupancy cannot be absent")
    o.request_id = maybe_string(data["request_id"])
    earlier = [maybe_string(i) for i in array(data["earlier"])]
    # Before version 5 wrote them here, the leave a join followed had a field of its own.
    earlier.append(maybe_string(data["left_id"]))
    ids = tuple(i for i in earlier if i is not None)[-EARLIER_JOINS:]
    o.earlier = (None, *ids) if None in data["earlier"] else ids
    o.view = _load_view(r, data["view"])
    o.joiner = r.jid(data["joiner"], account)
    history = o.view.history
    o.attached = _load_attachments(r, data["attached"], history)
    o.pending = _load_attachments(r, data["pending"], history, waiting=True)
    o.leaving = _load_attachments(r, data["leaving"], history)
    o.sent_ids = (
        OrderedDict((string(i), r.full(s, account)) for i, s in map(array, array(data["sent_ids"])))
        or None
    )
    o.sent_payload = r.payload(data["sent_payload"])
    change = data["nick_change"]
    if change is not None:
        session, nick, request_id, sent_id, resync = array(change)
        o.nick_change = NickChange(
            r.jid(session, account),
            string(nick),
            maybe_string(request_id),
            maybe_string(sent_id),
            resync=flag(resync),
        )
    o.last_seen = seconds(data["last_seen"])
    o.ping_id = maybe_string(data["ping_id"])
    o.ping_failures = whole(data["ping_failures"])
    o.attempts = whole(data["rejoin_attempts"])
    o.restored = flag(data["restored"])
    o.resync = None if data["resync"] is None else {string(n): None for n in array(data["resync"])}
    o.withheld = tuple((whole(n), flag(m)) for n, m in map(array, array(data["withheld"])))
    return o


def _memory(w: Writer, m: RoomMemory) -> Json:
    memory = {
        "seen": list(m.seen.items()),
        "last": m.last,
        "positions": [[w.jid(s, w.account), _place(p), at] for s, (p, at) in m.positions.items()],
    }
    if m.legacy:
        memory["legacy"] = m.legacy
    return memory


def _load_memory(r: Reader, data: Json) -> RoomMemory:
    m = RoomMemory()
    m.seen = RecentKeys((r.key(k), whole(n)) for k, n in map(array, array(data["seen"])))
    m.last = whole(data["last"])
    m.legacy = whole(data.get("legacy", 0))
    for s, place, at in map(array, array(data["positions"])):
        m.positions[r.full(s, r.account)] = (_load_place(place), seconds(at))
    return m


def _bookmark(mark: Bookmark) -> Json:
    return [str(mark.room), mark.autojoin, mark.nick, mark.password, mark.name]


def _load_bookmark(data: Json) -> Bookmark:
    room, autojoin, nick, password, name = array(data)
    return Bookmark(
        room=JID.parse(room),
        autojoin=flag(autojoin),
        nick=maybe_string(nick),
        password=maybe_string(password),
        name=maybe_string(name),
    )


def _account(w: Writer, a: Account) -> Json:
    w.account = account = str(a.jid)
    place = {room: n for n, room in enumerate(a.rooms)}
    return {
        "jid": account,
        "bookmarks": [_bookmark(m) for m in a.bookmarks.values()],
        "blocked": [_bookmark(m) for m in a.blocked.values()],
        "memory": [[str(r), _memory(w, m)] for r, m in a.memory.items()],
        "rooms": [_occupancy(w, o, a.jid) for o in a.rooms.values()],
        # Hosts read the sessions' and the rooms' JIDs: written in full. A session's room
        # is its place in "rooms" when it is there.
        "sessions": [
            [str(s), [place.get(r, str(r)) for r in rooms]] for s, rooms in a.sessions.items()
        ],
        "pending_iqs": [
            [i, str(p.session), p.original_id, str(p.to), p.query_id, p.session_closed]
            for i, p in a.pending_iqs.items()
        ],
    }


def _load_account(r: Reader, data: Json) -> Account:
    account = Account(JID.parse(data["jid"]))
    r.account = account.jid
    bookmarks = [_load_bookmark(mark) for mark in array(data["bookmarks"])]
    if bookmarks:
        account.bookmarks = {bookmark.room: bookmark for bookmark in bookmarks}
    blocked = [_load_bookmark(mark) for mark in array(data["blocked"])]
    if blocked:
        account.blocked = {bookmark.room: bookmark for bookmark in blocked}
    memory = array(data["memory"])
    if memory:
        account.memory = {}
        for room, m in map(array, memory):
            with within(f"the memory of {label(room)}"):
                account.memory[JID.parse(room)] = _load_memory(r, m)
    for room in array(data["rooms"]):
        with within(label(room.get("room") if isinstance(room, Mapping) else room)):
            occupancy = _load_occupancy(r, room)
        account.rooms[occupancy.room] = occupancy
    rooms = list(account.rooms)
    for session, linked in map(array, array(data["sessions"])):
        jid = JID.parse(session)
        for j in array(linked):
            account.link(jid, JID.parse(j) if isinstance(j, str) else rooms[whole(j)])
    for iq_id, session, original, to, query_id, closed in map(array, array(data["pending_iqs"])):
        pending = PendingIQ(
            session=JID.parse(session),
            original_id=string(original),
            to=JID.parse(to),
            query_id=maybe_string(query_id),
        )
        pending.session_closed = flag(closed)
        account.pending_iqs = writable(account.pending_iqs)
        account.pending_iqs[string(iq_id)] = pending
    return account


def dump_core(core: Core, accounts: frozenset[JID] | None = None) -> dict[str, Json]:
    """Everything ``core`` holds (or holds for ``accounts``), JSON-safe."""

    def wanted(jid: JID) -> bool:
        return accounts is None or jid in accounts

    w = Writer()
    dumped = [a for a in core.table.accounts.values() if wanted(a.jid)]
    # A timer names its account by its place in "accounts", and its room by its place in
    # that account's "rooms", when they are there.
    place = {a.jid: n for n, a in enumerate(dumped)}
    rooms: dict[tuple[JID, JID | str], int] = {
        (a.jid, room): n for a in dumped for n, room in enumerate(a.rooms)
    }
    timers = [
        [
            when,
            kind,
            place.get(account, str(account)),
            rooms.get((account, detail), str(detail)) if account in place else str(detail),
            isinstance(detail, JID),
        ]
        # Each room's keep-alive deadline is written; the account's timer is remade on load.
        for when, kind, account, detail in core.deadlines()
        if wanted(account)
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "now": core.now,
        "counter": core.counter,
        "sequence": core.sequence,
        "join_queue": [[str(a), str(r)] for a, r in core.autojoins.items() if wanted(a)],
        "join_queue_at": core.autojoins.next_deadline(),
        "join_pace": sorted(core.autojoins.pace().items()),
        "join_turns": sorted(core.autojoins.turns().items()),
        "timers": timers,
        "accounts": [_account(w, a) for a in dumped],
        "payloads": w.payloads,
        "names": w.names,
    }


def _checked_load(snapshot: Mapping[str, Json], config: Config) -> Core:
    if not isinstance(snapshot, Mapping) or snapshot.get("format") != FORMAT:
        raise SnapshotError("not a minimix_core snapshot")
    version = snapshot.get("version")
    if type(version) is not int or version not in _READ:  # 5.0 == 5 and True == 1
        raise SnapshotError(f"snapshot version {version!r} is not one of 1 to {VERSION}")
    try:
        if version == 1:
            core = _load(upgrade_v1(snapshot, config), config, inline=True)
        else:
            core = _load(snapshot, config, inline=False)
        if version < 3:
            for account in core.table.accounts.values():
                rekey(account)
        for account in core.table.accounts.values():
            fit(account, config)
        return core
    except SnapshotError:
        raise
    except DAMAGE as exc:
        raise SnapshotError(f"malformed snapshot: {exc!r}") from exc


def adopt_into(core: Core, snapshot: Mapping[str, Json]) -> list[JID]:
    """Move the accounts of ``snapshot`` into ``core``, sessions and all; return them.

    Raises :class:`SnapshotError`, changing nothing, for a bad snapshot or an account
    ``core`` already holds.
    """
    moved = _checked_load(snapshot, core.config)
    clash = [jid for jid in moved.table.accounts if jid in core.table.accounts]
    if clash:
        raise SnapshotError(f"this router already holds {', '.join(map(str, clash))}")
    for adopted in moved.table.accounts.values():
        core.table.add(adopted)
    # Ids the adopted accounts still wait on must never be made again here.
    core.counter = max(core.counter, moved.counter)
    core.sequence = max(core.sequence, moved.sequence)  # their presences stay the newest
    for when, key in moved.timers.items():
        core.timers.schedule(key, when)
    here = core.autojoins.pace()
    for domain, free in moved.autojoins.pace().items():
        # The service took a join from the other router lately: it waits its interval here too.
        if free > here.get(domain, -math.inf):
            core.autojoins.set_pace(domain, free)
    for account, room in moved.autojoins.items():
        core.autojoins.push(account, room, now=core.now)
    return list(moved.table.accounts)


def load_core(snapshot: Mapping[str, Json], config: Config, now: float, *, sessions: bool) -> Core:
    """A core rebuilt from ``snapshot``; without ``sessions``, as after a process restart."""
    core = _checked_load(snapshot, config)
    core.now = max(now, core.now)
    if not sessions:
        after_restart(core)
    return core


def _load(snapshot: Mapping[str, Json], config: Config, *, inline: bool) -> Core:
    core = Core(config)
    core.now = seconds(snapshot["now"])
    if core.now > LATEST:  # every later event would be refused as time going back
        raise SnapshotError(f"a snapshot taken after the year 9999: {core.now!r}")
    core.counter = whole(snapshot["counter"])
    core.sequence = whole(snapshot["sequence"])
    for domain, free in map(array, array(snapshot["join_pace"])):
        core.autojoins.set_pace(string(domain), seconds(free))
    at = snapshot["join_queue_at"]
    at = None if at is None else seconds(at)
    # Each service's turn as it was (it may be overdue); snapshots without them give every
    # service the queue's first turn.
    turns = {
        string(domain): seconds(turn)
        for domain, turn in map(array, array(snapshot.get("join_turns", [])))
    }
    for account, text in map(array, array(snapshot["join_queue"])):
        room = JID.parse(text)
        turn = turns.get(room.domain, core.now if at is None else at)
        core.autojoins.push(JID.parse(account), room, now=turn)
    accounts = array(snapshot["accounts"])
    names = snapshot.get("names")
    if snapshot["version"] < 5:  # names where they stand: a table of them is damage
        if names is not None:
            raise SnapshotError(f"a table of names in a version {snapshot['version']} snapshot")
    elif names is None:
        raise SnapshotError("a version 5 snapshot without its table of names")
    payloads = snapshot.get("payloads")
    if payloads is None and not inline:
        raise SnapshotError(f"a version {snapshot['version']} snapshot without its payloads")
    reader = Reader(payloads, names, inline=inline)
    for data in accounts:
        with within(label(data.get("jid") if isinstance(data, Mapping) else data)):
            account = _load_account(reader, data)
            if account.jid in core.table.accounts:
                raise SnapshotError("the account is in the snapshot twice")
        core.table.add(account)
    keys: list[tuple[float, TimerKey]] = []
    for n, timer in enumerate(array(snapshot["timers"])):
        with within(f"timer {n}"):
            keys.append(_load_timer(core, accounts, timer))
    # In the written order, so equal deadlines fire as they would have.
    for when, key in keys:
        if key[0] != "ping":
            core.timers.schedule(key, when)
        elif core.timers.when(keepalive_timer(key[1])) is None:
            core.arm_keepalive(core.table.accounts[key[1]])
    check_states(core)
    return core


def _load_timer(core: Core, accounts: Json, timer: Json) -> tuple[float, TimerKey]:
    """A timer as written: ``[when, kind, account, detail, detail is a JID]``."""
    when, kind, owner, about, is_jid = array(timer)
    # A place in a list is a whole number: true would be place 1, and -1 the last one.
    holder: Json = {"jid": owner} if isinstance(owner, str) else accounts[whole(owner)]
    # A room is named by its place; an id (is_jid false) only ever as itself.
    is_room = flag(is_jid) and not isinstance(about, str)
    detail = holder["rooms"][whole(about)]["room"] if is_room else string(about)
    if kind not in (_JID_TIMERS if is_jid else ("iq",)):  # it would find no handler
        raise SnapshotError(f"not a timer kind: {kind!r}")
    key: TimerKey = (
        kind,
        JID.parse(holder["jid"]),
        JID.parse(detail) if is_jid else detail,
    )
    check_deadline(core, key)
    if kind == "ping":  # a room's keep-alive deadline, under its account's one timer
        core.table.accounts[key[1]].rooms[JID.parse(detail)].ping_at = seconds(when)
    return seconds(when), key
