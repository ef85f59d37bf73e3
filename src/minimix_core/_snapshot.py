"""Snapshots: everything a router knows, as JSON-safe data, and back.

The format is versioned. Stanzas are kept as nested lists (never as XML text, which only
the XML edge writes): an element is ``[tag, attrs, children, text, tail]`` and a stanza
``[kind, type, from, to, id, attrs, children]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._autojoin import AutojoinQueue
from ._config import Config
from ._core import Core, TimerKey
from ._events import Bookmark
from ._history import History, message_key
from ._jid import JID
from ._lifecycle import OccupancyState
from ._stanza import Element, Stanza, payload_size
from ._table import (
    Account,
    Attachment,
    NickChange,
    Occupancy,
    PendingIQ,
    RoomMemory,
    RoomView,
    flag_set,
)

__all__ = ["FORMAT", "VERSION", "SnapshotError", "adopt_into", "dump_core", "load_core"]

FORMAT: Final = "minimix_core.snapshot"
VERSION: Final = 2

Json = Any  # what json.loads gives back: checked field by field while loading


class SnapshotError(ValueError):
    """A snapshot that cannot be restored: wrong format, unknown version, or malformed."""


def _element(el: Element) -> Json:
    return [
        el.tag,
        [list(a) for a in el.attrs],
        [_element(c) for c in el.children],
        el.text,
        el.tail,
    ]


def _load_element(data: Json) -> Element:
    tag, attrs, children, text, tail = data
    return Element(
        str(tag),
        tuple((str(k), str(v)) for k, v in attrs),
        tuple(_load_element(c) for c in children),
        None if text is None else str(text),
        None if tail is None else str(tail),
    )


def _jid(jid: JID | None) -> str | None:
    return None if jid is None else str(jid)


def _load_jid(text: Json) -> JID | None:
    return None if text is None else JID.parse(str(text))


def _stanza(s: Stanza | None) -> Json:
    if s is None:
        return None
    children = [_element(c) for c in s.children]
    return [s.kind, s.type, _jid(s.from_), _jid(s.to), s.id, [list(a) for a in s.attrs], children]


def _load_stanza(data: Json) -> Stanza:
    kind, type_, from_, to, id_, attrs, children = data
    if kind not in ("message", "presence", "iq"):
        raise SnapshotError(f"not a stanza kind: {kind!r}")
    return Stanza(
        kind,
        type=type_,
        from_=_load_jid(from_),
        to=_load_jid(to),
        id=id_,
        attrs=tuple((str(k), str(v)) for k, v in attrs),
        children=tuple(_load_element(c) for c in children),
    )


def _maybe_stanza(data: Json) -> Stanza | None:
    return None if data is None else _load_stanza(data)


def _attachments(group: dict[JID, Attachment]) -> Json:
    return [
        [
            str(s),
            a.join_id,
            a.nick,
            _stanza(a.request),
            [_element(e) for e in a.payload],
            a.seq,
            [a.position, a.since, a.bounced, a.left, a.leave_id],
        ]
        for s, a in group.items()
    ]


def _load_attachments(data: Json) -> dict[JID, Attachment]:
    out: dict[JID, Attachment] = {}
    for session, join_id, nick, request, payload, seq, *more in data:
        attachment = out[JID.parse(session)] = Attachment(
            join_id=join_id,
            nick=str(nick),
            request=_load_stanza(request),
            payload=tuple(_load_element(e) for e in payload),
            seq=int(seq),
        )
        if more:  # version 1 had none of these
            [[position, since, bounced, left, leave_id]] = more
            attachment.position = None if position is None else int(position)
            attachment.since = int(since)
            attachment.bounced = None if bounced is None else int(bounced)
            attachment.left = bool(left)
            attachment.leave_id = leave_id
    return out


def _view(v: RoomView) -> Json:
    history = v.history
    return {
        "nick": v.nick,
        "self": _stanza(v.self_presence),
        "occupants": [[n, _stanza(p)] for n, p in v.occupants.items()],
        "room_presence": _stanza(v.room_presence),
        "subject": _stanza(v.subject),
        "flags": sorted(v.flags),
        "created": v.created,
        "history": None if history is None else history.dump(_stanza),
        "passed": [] if v.passed is None else list(v.passed),
        "last_message_at": v.last_message_at,
        "joined_at": v.joined_at,
    }


def _load_view(data: Json) -> RoomView:
    v = RoomView()
    v.nick = data["nick"]
    v.self_presence = _maybe_stanza(data["self"])
    v.occupants = {str(n): _load_stanza(p) for n, p in data["occupants"]}
    v.occupant_bytes = sum(payload_size(p.children) for p in v.occupants.values())
    v.room_presence = _maybe_stanza(data["room_presence"])
    v.subject = _maybe_stanza(data["subject"])
    v.flags = flag_set(int(f) for f in data["flags"])
    v.created = bool(data["created"])
    if data["history"] is not None:
        v.history = History.load(data["history"], _load_stanza)
    v.passed = {str(k): None for k in data["passed"]} or None
    v.last_message_at = None if data["last_message_at"] is None else float(data["last_message_at"])
    v.joined_at = float(data["joined_at"])
    return v


def _occupancy(o: Occupancy) -> Json:
    change = o.nick_change
    return {
        "room": str(o.room),
        "state": o.state.value,
        "join": _stanza(o.join),
        "request_id": o.request_id,
        "view": _view(o.view),
        "joiner": _jid(o.joiner),
        "attached": _attachments(o.attached),
        "pending": _attachments(o.pending),
        "leaving": _attachments(o.leaving),
        "sent_ids": [] if o.sent_ids is None else [[i, str(s)] for i, s in o.sent_ids.items()],
        "sent_payload": [_element(e) for e in o.sent_payload],
        "nick_change": None
        if change is None
        else [_jid(change.session), change.nick, change.request_id, change.sent_id, change.resync],
        "last_seen": o.last_seen,
        "ping_id": o.ping_id,
        "ping_failures": o.ping_failures,
        "rejoin_attempts": o.rejoin_attempts,
        "resync": None if o.resync is None else list(o.resync),
    }


def _load_occupancy(data: Json) -> Occupancy:
    o = Occupancy(JID.parse(data["room"]), _load_stanza(data["join"]))
    o.state = OccupancyState(data["state"])
    if o.state is OccupancyState.ABSENT:
        raise SnapshotError("an occupancy cannot be absent")
    o.request_id = data["request_id"]
    o.view = _load_view(data["view"])
    o.joiner = _load_jid(data["joiner"])
    o.attached = _load_attachments(data["attached"])
    o.pending = _load_attachments(data["pending"])
    o.leaving = _load_attachments(data["leaving"])
    o.sent_ids = {str(i): JID.parse(s) for i, s in data["sent_ids"]} or None
    o.sent_payload = tuple(_load_element(e) for e in data["sent_payload"])
    change = data["nick_change"]
    if change is not None:
        session, nick, request_id, sent_id, resync = change
        o.nick_change = NickChange(
            _load_jid(session), str(nick), request_id, sent_id, resync=bool(resync)
        )
    o.last_seen = float(data["last_seen"])
    o.ping_id = data["ping_id"]
    o.ping_failures = int(data["ping_failures"])
    o.rejoin_attempts = int(data["rejoin_attempts"])
    o.resync = None if data["resync"] is None else {str(n): None for n in data["resync"]}
    return o


def _memory(m: RoomMemory) -> Json:
    return {
        "seen": list(m.seen.items()),
        "last": m.last,
        "positions": [[str(s), seq, at] for s, (seq, at) in m.positions.items()],
    }


def _load_memory(data: Json) -> RoomMemory:
    m = RoomMemory()
    m.seen = {str(k): int(n) for k, n in data["seen"]}
    m.last = int(data["last"])
    m.positions = {JID.parse(s): (int(seq), float(at)) for s, seq, at in data["positions"]}
    return m


def _bookmark(mark: Bookmark) -> Json:
    return [str(mark.room), mark.autojoin, mark.nick, mark.password, mark.name]


def _load_bookmark(data: Json) -> Bookmark:
    room, autojoin, nick, password, name = data
    return Bookmark(
        room=JID.parse(room), autojoin=bool(autojoin), nick=nick, password=password, name=name
    )


def _account(a: Account) -> Json:
    return {
        "jid": str(a.jid),
        "bookmarks": [_bookmark(m) for m in a.bookmarks.values()],
        "blocked": [_bookmark(m) for m in a.blocked.values()],
        "memory": [[str(r), _memory(m)] for r, m in a.memory.items()],
        "rooms": [_occupancy(o) for o in a.rooms.values()],
        "sessions": [[str(s), [str(r) for r in rooms]] for s, rooms in a.sessions.items()],
        "pending_iqs": [
            [i, str(p.session), p.original_id, str(p.to), p.query_id, p.session_closed]
            for i, p in a.pending_iqs.items()
        ],
    }


def _load_account(data: Json) -> Account:
    account = Account(JID.parse(data["jid"]))
    for mark in data["bookmarks"]:
        bookmark = _load_bookmark(mark)
        account.bookmarks[bookmark.room] = bookmark
    for mark in data["blocked"]:
        bookmark = _load_bookmark(mark)
        account.blocked[bookmark.room] = bookmark
    for room, memory in data["memory"]:
        account.memory[JID.parse(room)] = _load_memory(memory)
    for room in data["rooms"]:
        occupancy = _load_occupancy(room)
        account.rooms[occupancy.room] = occupancy
    for session, rooms in data["sessions"]:
        account.sessions[JID.parse(session)] = {JID.parse(r): None for r in rooms}
    for iq_id, session, original, to, query_id, closed in data["pending_iqs"]:
        pending = PendingIQ(
            session=JID.parse(session), original_id=original, to=JID.parse(to), query_id=query_id
        )
        pending.session_closed = bool(closed)
        account.pending_iqs[str(iq_id)] = pending
    return account


def dump_core(core: Core, accounts: frozenset[JID] | None = None) -> dict[str, Json]:
    """Everything ``core`` holds (or holds for ``accounts``), JSON-safe."""

    def wanted(jid: JID) -> bool:
        return accounts is None or jid in accounts

    timers = [
        [when, kind, str(account), str(detail), isinstance(detail, JID)]
        for when, (kind, account, detail) in core.timers.items()
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
        "timers": timers,
        "accounts": [_account(a) for a in core.table.accounts.values() if wanted(a.jid)],
    }


def _checked_load(snapshot: Mapping[str, Json], config: Config) -> Core:
    if not isinstance(snapshot, Mapping) or snapshot.get("format") != FORMAT:
        raise SnapshotError("not a minimix_core snapshot")
    version = snapshot.get("version")
    if version not in (1, VERSION):
        raise SnapshotError(f"snapshot version {version!r} is not 1 or {VERSION}")
    try:
        return _load(upgrade_v1(snapshot) if version == 1 else snapshot, config)
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
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
    core.table.accounts.update(moved.table.accounts)
    # Ids the adopted accounts still wait on must never be made again here.
    core.counter = max(core.counter, moved.counter)
    core.sequence = max(core.sequence, moved.sequence)  # their presences stay the newest
    for when, key in moved.timers.items():
        core.timers.schedule(key, when)
    for account, room in moved.autojoins.items():
        core.autojoins.push(account, room, now=core.now)
    return list(moved.table.accounts)


def load_core(snapshot: Mapping[str, Json], config: Config, now: float, *, sessions: bool) -> Core:
    """A core rebuilt from ``snapshot``; without ``sessions``, as after a process restart."""
    core = _checked_load(snapshot, config)
    core.now = max(now, core.now)
    if not sessions:
        _after_restart(core)
    return core


def _load(snapshot: Mapping[str, Json], config: Config) -> Core:
    core = Core(config)
    core.now = float(snapshot["now"])
    core.counter = int(snapshot["counter"])
    core.sequence = int(snapshot["sequence"])
    at = snapshot["join_queue_at"]
    for account, room in snapshot["join_queue"]:
        # The queue's first turn as it was (it may be overdue); each service's line follows.
        core.autojoins.push(JID.parse(account), JID.parse(room), now=core.now if at is None else at)
    for when, kind, account, detail, is_jid in snapshot["timers"]:
        key: TimerKey = (
            str(kind),
            JID.parse(account),
            JID.parse(detail) if is_jid else str(detail),
        )
        core.timers.schedule(key, float(when))
    for data in snapshot["accounts"]:
        account = _load_account(data)
        core.table.accounts[account.jid] = account
    return core


def _after_restart(core: Core) -> None:
    """Sessions did not survive: rejoin what bookmarks keep, leave the rest, spread out.

    The rooms still count the account as an occupant, so each one hears from it again:
    a rejoin (history since the last message seen, so the buffer has no gap) or a leave.
    """
    core.timers = type(core.timers)()
    queue = core.autojoins.items()
    core.autojoins = AutojoinQueue(core.config.autojoin_interval)
    for account in list(core.table.accounts.values()):
        account.sessions = {}
        account.pending_iqs = {}
        for room, occupancy in list(account.rooms.items()):
            occupancy.attached = {}
            occupancy.pending = {}
            occupancy.leaving = {}
            occupancy.nick_change = None
            occupancy.sent_ids = None
            occupancy.ping_id = None
            occupancy.resync = None
            occupancy.request_id = None
            in_room = occupancy.view.self_presence is not None
            if account.wanted(room) and in_room:
                occupancy.state = OccupancyState.REJOIN_WAIT  # the queue says when
            elif in_room:
                occupancy.state = OccupancyState.JOINED  # until the queue makes it leave
            else:
                del account.rooms[room]  # its join was in flight: join afresh, or not at all
                if not account.wanted(room):
                    continue
            _queue(core, account.jid, room)
        core.forget_if_idle(account)
    for account_jid, room in queue:
        _queue(core, account_jid, room)


def _queue(core: Core, account: JID, room: JID) -> None:
    core.autojoins.push(account, room, now=core.now)


def upgrade_v1(snapshot: Mapping[str, Json]) -> dict[str, Json]:
    """A version 1 snapshot in the version 2 format.

    Version 1 kept the room's view in the occupancy itself, one ``rejoining`` state with
    a ``rejoin_sent`` flag, device positions per occupancy and history entries by
    stanza-id. Positions are dropped (a returning device then gets the default history).
    """
    upgraded = {k: v for k, v in snapshot.items() if k not in ("last_autojoin", "autojoin_at")}
    upgraded["version"] = VERSION
    upgraded["join_queue_at"] = snapshot["autojoin_at"]
    upgraded["timers"] = [
        [when, "state" if kind == "rejoin" else kind, *rest]
        for when, kind, *rest in snapshot["timers"]
    ]
    upgraded["accounts"] = [_account_v1(a) for a in snapshot["accounts"]]
    return upgraded


def _account_v1(data: Json) -> Json:
    account = dict(data)
    account["blocked"] = []
    account["memory"] = []
    account["rooms"] = [_occupancy_v1(o) for o in data["rooms"]]
    return account


def _occupancy_v1(o: Json) -> Json:
    room = JID.parse(o["room"])
    state = o["state"]
    if state == "rejoining":
        state = "rejoin-sent" if o["rejoin_sent"] else "rejoin-wait"
    history = o["history"]
    entries = None
    if history is not None:
        entries = [
            [message, at, message_key(_load_stanza(message), room), size, seq, False]
            for message, at, _, size, seq in history[1]
        ]
    change = o["nick_change"]
    return {
        "room": o["room"],
        "state": state,
        "join": o["join"],
        "request_id": o["join"][4] if state == "joining" else None,
        "view": {
            "nick": o["nick"],
            "self": o["self"],
            "occupants": o["occupants"],
            "room_presence": o["room_presence"],
            "subject": o["subject"],
            "flags": o["flags"],
            "created": o["created"],
            "history": entries,
            "passed": [] if entries is None else [e[2] for e in entries],
            "last_message_at": o["last_message_at"],
            "joined_at": o["joined_at"],
        },
        "joiner": o["joiner"],
        "attached": o["attached"],
        "pending": o["pending"],
        "leaving": o["leaving"],
        "sent_ids": o["sent_ids"],
        "sent_payload": o["sent_payload"],
        "nick_change": None if change is None else [*change[:3], change[2], change[3]],
        "last_seen": o["last_seen"],
        "ping_id": o["ping_id"],
        "ping_failures": o["ping_failures"],
        "rejoin_attempts": o["rejoin_attempts"],
        "resync": o["resync"],
    }
