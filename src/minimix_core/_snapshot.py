"""Snapshots: everything a router knows, as JSON-safe data, and back.

The format is versioned. Stanzas are kept as nested lists (never as XML text, which only
the XML edge writes): an element is ``[tag, attrs, children, text, tail]`` and a stanza
``[kind, type, from, to, id, attrs, children]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from ._config import Config
from ._core import Core, TimerKey
from ._events import Bookmark
from ._history import History
from ._jid import JID
from ._lifecycle import OccupancyEvent, OccupancyState, advance
from ._stanza import Element, Stanza
from ._table import Account, Attachment, NickChange, Occupancy, PendingIQ

__all__ = ["FORMAT", "VERSION", "SnapshotError", "adopt_into", "dump_core", "load_core"]

FORMAT: Final = "minimix_core.snapshot"
VERSION: Final = 1

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
        [str(s), a.join_id, a.nick, _stanza(a.request), [_element(e) for e in a.payload], a.seq]
        for s, a in group.items()
    ]


def _load_attachments(data: Json) -> dict[JID, Attachment]:
    out: dict[JID, Attachment] = {}
    for session, join_id, nick, request, payload, seq in data:
        out[JID.parse(session)] = Attachment(
            join_id=join_id,
            nick=str(nick),
            request=_load_stanza(request),
            payload=tuple(_load_element(e) for e in payload),
            seq=int(seq),
        )
    return out


def _occupancy(o: Occupancy) -> Json:
    history = o.history
    return {
        "room": str(o.room),
        "state": o.state.value,
        "join": _stanza(o.join),
        "requested_nick": o.requested_nick,
        "nick": o.nick,
        "self": _stanza(o.self_presence),
        "occupants": [[n, _stanza(p)] for n, p in o.occupants.items()],
        "occupants_truncated": o.occupants_truncated,
        "room_presence": _stanza(o.room_presence),
        "subject": _stanza(o.subject),
        "flags": sorted(o.flags),
        "created": o.created,
        "joiner": _jid(o.joiner),
        "attached": _attachments(o.attached),
        "pending": _attachments(o.pending),
        "leaving": _attachments(o.leaving),
        "sent_ids": [[i, str(s)] for i, s in o.sent_ids.items()],
        "sent_payload": [_element(e) for e in o.sent_payload],
        "nick_change": None
        if o.nick_change is None
        else [
            str(o.nick_change.session),
            o.nick_change.nick,
            o.nick_change.request_id,
            o.nick_change.resync,
        ],
        "history": None if history is None else history.dump(_stanza),
        "last_message_at": o.last_message_at,
        "joined_at": o.joined_at,
        "last_seen": o.last_seen,
        "ping_id": o.ping_id,
        "ping_failures": o.ping_failures,
        "rejoin_attempts": o.rejoin_attempts,
        "rejoin_sent": o.rejoin_sent,
        "resync": None if o.resync is None else sorted(o.resync),
        "pinned": o.pinned,
        "positions": [[str(s), seq, at] for s, (seq, at) in o.positions.items()],
        "leave_due": o.leave_due,
    }


def _load_occupancy(data: Json) -> Occupancy:
    o = Occupancy(JID.parse(data["room"]), _load_stanza(data["join"]), str(data["requested_nick"]))
    o.state = OccupancyState(data["state"])
    o.nick = data["nick"]
    o.self_presence = _maybe_stanza(data["self"])
    o.occupants = {str(n): _load_stanza(p) for n, p in data["occupants"]}
    o.occupants_truncated = bool(data["occupants_truncated"])
    o.room_presence = _maybe_stanza(data["room_presence"])
    o.subject = _maybe_stanza(data["subject"])
    o.flags = {int(f) for f in data["flags"]}
    o.created = bool(data["created"])
    o.joiner = _load_jid(data["joiner"])
    o.attached = _load_attachments(data["attached"])
    o.pending = _load_attachments(data["pending"])
    o.leaving = _load_attachments(data["leaving"])
    o.sent_ids = {str(i): JID.parse(s) for i, s in data["sent_ids"]}
    o.sent_payload = tuple(_load_element(e) for e in data["sent_payload"])
    change = data["nick_change"]
    if change is not None:
        session, nick, request_id, resync = change
        o.nick_change = NickChange(JID.parse(session), nick, request_id, resync=bool(resync))
    if data["history"] is not None:
        o.history = History.load(data["history"], _load_stanza)
    o.last_message_at = data["last_message_at"]
    o.joined_at = float(data["joined_at"])
    o.last_seen = float(data["last_seen"])
    o.ping_id = data["ping_id"]
    o.ping_failures = int(data["ping_failures"])
    o.rejoin_attempts = int(data["rejoin_attempts"])
    o.rejoin_sent = bool(data["rejoin_sent"])
    o.resync = None if data["resync"] is None else {str(n) for n in data["resync"]}
    o.pinned = bool(data["pinned"])
    o.positions = {JID.parse(s): (int(seq), float(at)) for s, seq, at in data["positions"]}
    o.leave_due = bool(data["leave_due"])
    return o


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
        "join_queue": [[str(a), str(r)] for a, r in core.join_queue if wanted(a)],
        "last_autojoin": None if math.isinf(core.last_autojoin) else core.last_autojoin,
        "autojoin_at": core.autojoin_at,
        "timers": timers,
        "accounts": [_account(a) for a in core.table.accounts.values() if wanted(a.jid)],
    }


def _checked_load(snapshot: Mapping[str, Json], config: Config) -> Core:
    if not isinstance(snapshot, Mapping) or snapshot.get("format") != FORMAT:
        raise SnapshotError("not a minimix_core snapshot")
    if snapshot.get("version") != VERSION:
        raise SnapshotError(
            f"snapshot version {snapshot.get('version')!r} is not {VERSION}; no upgrade path exists"
        )
    try:
        return _load(snapshot, config)
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
    for when, key in moved.timers.items():
        core.timers.schedule(key, when)
    for entry in moved.join_queue:
        core.join_queue[entry] = None
    if moved.join_queue and core.autojoin_at is None:
        core.autojoin_at = max(core.now, core.last_autojoin + core.config.autojoin_interval)
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
    for account, room in snapshot["join_queue"]:
        core.join_queue[(JID.parse(account), JID.parse(room))] = None
    last = snapshot["last_autojoin"]
    core.last_autojoin = -math.inf if last is None else float(last)
    at = snapshot["autojoin_at"]
    core.autojoin_at = None if at is None else float(at)
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
    queue = dict(core.join_queue)
    core.join_queue = {}
    core.autojoin_at = None
    for account in list(core.table.accounts.values()):
        account.sessions = {}
        account.pending_iqs = {}
        for room, occupancy in list(account.rooms.items()):
            occupancy.attached = {}
            occupancy.pending = {}
            occupancy.leaving = {}
            occupancy.nick_change = None
            occupancy.sent_ids = {}
            occupancy.ping_id = None
            in_room = occupancy.self_presence is not None and occupancy.state in (
                OccupancyState.JOINED,
                OccupancyState.REJOINING,
            )
            if occupancy.pinned and in_room:
                if occupancy.state is OccupancyState.JOINED:
                    occupancy.state = advance(occupancy.state, OccupancyEvent.ROOM_FORGOT)
                occupancy.rejoin_sent = False
            elif occupancy.pinned:
                del account.rooms[room]  # its join was in flight: join afresh
            else:
                if occupancy.state is not OccupancyState.LEAVING:
                    occupancy.state = advance(
                        occupancy.state, OccupancyEvent.LAST_SESSION_GONE, OccupancyState.LEAVING
                    )
                occupancy.leave_due = True
            _queue(core, account.jid, room)
        core.table.forget_if_empty(account)
    for account_jid, room in queue:
        _queue(core, account_jid, room)


def _queue(core: Core, account: JID, room: JID) -> None:
    core.join_queue[(account, room)] = None
    if core.autojoin_at is None:
        core.autojoin_at = core.now
