"""Each occupancy's bounded buffer of the room's historic messages (XEP-0045 §7.2.13).

What the buffer keeps is what a room's own history would: messages with a body or
another storable payload, not chat states or messages marked ``no-store``. Each entry is
kept in the form a late joiner gets it: with one ``<delay/>`` from the room, the room's
own when it sent one.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from ._config import Config
from ._jid import JID, names
from ._muc import DELAY, HINTS, MUC, STANZA_ID
from ._place import Place, before_gap, has
from ._stanza import CLIENT_NS, Element, Stanza, element_size

__all__ = [
    "GROUPCHAT_TAGS",
    "History",
    "HistoryRequest",
    "MessageFacts",
    "history_request",
    "iso_stamp",
    "key_of",
    "message_key",
    "scan_message",
    "version_2_key",
]

_BODY: Final = f"{{{CLIENT_NS}}}body"
_SUBJECT: Final = f"{{{CLIENT_NS}}}subject"
_CLIENT_OPEN: Final = f"{{{CLIENT_NS}}}"
_THREAD: Final = f"{{{CLIENT_NS}}}thread"
_NOT_STORED: Final = frozenset({f"{{{HINTS}}}no-store", f"{{{HINTS}}}no-permanent-store"})
# Payloads worth keeping without a body: explicit store hint, encryption, markers.
_STORABLE: Final = frozenset(
    {
        f"{{{HINTS}}}store",
        "{eu.siacs.conversations.axolotl}encrypted",
        "{urn:xmpp:omemo:2}encrypted",
        "{urn:xmpp:openpgp:0}openpgp",
        "{urn:xmpp:chat-markers:0}displayed",
        "{urn:xmpp:chat-markers:0}received",
        "{urn:xmpp:chat-markers:0}acknowledged",
    }
)


_LONGEST_ID_KEY: Final = 36
"""The longest stanza-id that is its own message key (:func:`message_key`)."""
_DIGEST_CHARS: Final = 16
_HEX: Final = frozenset("0123456789abcdef")

# What one pass over a message's payload looks for, by tag.
_IS_BODY, _IS_SUBJECT, _IS_THREAD, _IS_STANZA_ID, _IS_DELAY, _IS_STORABLE, _IS_NOT_STORED = range(7)
_ROLE: Final = {
    _BODY: _IS_BODY,
    _SUBJECT: _IS_SUBJECT,
    _THREAD: _IS_THREAD,
    STANZA_ID: _IS_STANZA_ID,
    DELAY: _IS_DELAY,
    **dict.fromkeys(_STORABLE, _IS_STORABLE),
    **dict.fromkeys(_NOT_STORED, _IS_NOT_STORED),
}

MessageFacts = tuple[bool, bool, "str | None", "Element | None", int, bool]
"""What :func:`scan_message` finds, in this order: ``historic`` (a room would keep it in
its history; never a subject change), ``subject`` (a subject change,
:func:`~minimix_core._muc.is_subject`), ``stanza_id`` (the room's XEP-0359 id), ``delay``
(the first ``<delay/>``), ``size`` (the message's size in characters, as
:meth:`History.add` counts it, without a delay added for replay) and ``foreign_ids`` (a
stanza-id ``by`` someone else than the room: the archive
must check it, XEP-0359 §5)."""


def scan_message(stanza: Stanza, room: str, envelope: int = -1) -> MessageFacts:
    """Everything routing a room message needs from its payload, in one pass.

    A message is looked at for its history, its archive copy, its key and its forks; one
    walk over the payload answers them all, so the per-message cost is one pass. ``room``
    is the room's bare JID as text (the ``by`` of its stanza-ids); ``envelope`` the size of
    the stanza's own tags and routing attributes when the caller knows it (characters;
    negative: worked out here).
    """
    body = subject = thread = storable = not_stored = foreign = False
    stanza_id: str | None = None
    delay: Element | None = None
    size = _envelope(stanza) if envelope < 0 else envelope
    tags = _TAGS
    for child in stanza.children:
        tag = child.tag
        info = tags.get(tag)
        if info is None:
            info = _tag_info(tag)
        extra, role = info
        # element_size(child), unrolled: the parser left the size memo, and a call per
        # child would cost as much as the rest of this loop.
        child_size = child._size
        size += element_size(child) if child_size < 0 else child_size + extra
        if role == _NO_ROLE:
            continue
        if role == _IS_BODY:
            body = True
        elif role == _IS_STANZA_ID:
            found = _id_by(child, room)
            if found is None:
                foreign = True
            elif stanza_id is None:
                stanza_id = found
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
    # A subject change (§8.1) is one whatever hints it carries: the room's subject, no message.
    change = subject and not body and not thread
    historic = (body or storable) and not not_stored and not change
    return historic, change, stanza_id, delay, size, foreign


_NO_ROLE: Final = 7
_TAGS: dict[str, tuple[int, int]] = {}
"""Tag -> the characters its namespace declaration adds to a child of a ``jabber:client``
stanza, and its role in :func:`scan_message`: a server sees a few dozen tags, and one
lookup costs less than working both out for every child. Bounded (``_TAGS_BOUND``): tags
come from the network; past the bound, new ones are worked out each time."""
_TAGS_BOUND: Final = 4096


def _tag_info(tag: str) -> tuple[int, int]:
    if tag.startswith(_CLIENT_OPEN):
        extra = 0
    else:
        end = tag.find("}")
        extra = end + 8 if end >= 0 else 9  # ' xmlns="…"', or ' xmlns=""' for no namespace
    info = (extra, _ROLE.get(tag, _NO_ROLE))
    if len(_TAGS) < _TAGS_BOUND:
        _TAGS[tag] = info
    return info


def iso_stamp(seconds: float) -> str:
    """XEP-0082 DateTime (UTC, ``Z``) for POSIX seconds."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{moment.microsecond // 1000:03d}Z" if moment.microsecond else "Z"
    )


def _parse_stamp(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):  # remote text: a bad stamp is no stamp
        return None


def message_key(stanza: Stanza, room: JID) -> str:
    """A key of bounded size that names one room message however often it arrives.

    The room's XEP-0359 stanza-id when it gives one (``by`` the room); otherwise, for
    rooms without stanza-ids, the sender's occupant JID, the message's ``id`` and its
    payload but the ``<delay/>``: what a retransmission or a join's history repeats
    unchanged (the room adds only the delay). At most 36 characters, so a bound on the
    count is one on bytes: a stanza-id up to a UUID's length is its own key (Prosody's
    are UUIDs); anything else is hashed to 16 hexadecimal characters (BLAKE2b). Two
    messages without a stanza-id from the same occupant, with the same ``id`` (or none)
    and the same payload, have the same key: the second counts as a repeat.
    """
    return key_of(stanza, History.stanza_id(stanza, room))


def version_2_key(key: str) -> str | None:
    """What snapshot version 2 held for ``key``, when that differs: the hash of the id.

    Version 2 hashed every stanza-id; a key that is not a hash is a stanza-id kept as it
    is (:func:`key_of`). ``None`` for a hash, which version 2 held alike.
    """
    if len(key) == _DIGEST_CHARS and _HEX.issuperset(key):
        return None
    digest = hashlib.blake2b(f"s\0{key}".encode("utf-8", "surrogatepass"), digest_size=8)
    return digest.hexdigest()


def key_of(stanza: Stanza, stanza_id: str | None) -> str:
    """:func:`message_key` when the room's stanza-id is known already (or known absent)."""
    if stanza_id is not None:
        # Hashing costs a twelfth of a message's routing: a short id is kept as it is.
        # One shaped like a digest is hashed, so an id never equals another message's hash.
        size = len(stanza_id)
        if size <= _LONGEST_ID_KEY and (size != _DIGEST_CHARS or not _HEX.issuperset(stanza_id)):
            return stanza_id
        material = "s\0" + stanza_id
    else:
        payload = [_canonical(c) for c in stanza.children if c.tag != DELAY]
        material = f"m\0{stanza.from_}\0{stanza.id}\0{payload}"
    digest = hashlib.blake2b(material.encode("utf-8", "surrogatepass"), digest_size=8)
    return digest.hexdigest()


def _canonical(element: Element) -> object:
    """The element as comparable data, attribute order left out (servers reorder them)."""
    children = [_canonical(c) for c in element.children]
    return (element.tag, sorted(element.attrs), element.text, children)


GROUPCHAT_TAGS: Final = 2 * len("message") + 5 + len("groupchat") + 8
"""What :func:`_envelope` counts for ``<message type='groupchat'>…</message>`` before its
addresses and ``id``: for a message whose kind and type are known."""


def _envelope(stanza: Stanza) -> int:
    """The size of the stanza's own tags and routing attributes (see :func:`element_size`)."""
    kind, type_, from_, to, id_, _, _ = stanza
    size = 2 * len(kind) + 5
    # Once per message: the address lengths are summed here, not in calls.
    for address in (from_, to):
        if address is not None:
            local, domain, resource = address
            size += len(domain) + 8
            if local is not None:
                size += len(local) + 1
            if resource is not None:
                size += len(resource) + 1
    if type_ is not None:
        size += len(type_) + 8
    if id_ is not None:
        size += len(id_) + 8
    return size


def _id_by(element: Element, by: str) -> str | None:
    """The ``id`` of a stanza-id element if it is ``by`` that entity, else ``None``.

    ``by`` is a bare JID as text, as :class:`JID` normalises it; the element's ``by`` may
    spell it otherwise (RFC 7622: local and domain parts compare case-insensitively).
    """
    found_by = found_id = None
    for key, value in element.attrs:
        if key == "by":
            found_by = value
        elif key == "id":
            found_id = value
    if found_by == by:
        return found_id
    return found_id if names(found_by, JID.parse(by)) else None


class HistoryRequest:
    """A session's ``<history/>`` limits (XEP-0045 §7.2.14); ``None`` means no limit."""

    __slots__ = ("maxchars", "maxstanzas", "seconds", "since")

    def __init__(
        self,
        *,
        maxchars: int | None = None,
        maxstanzas: int | None = None,
        seconds: int | None = None,
        since: float | None = None,
    ) -> None:
        self.maxchars = maxchars
        self.maxstanzas = maxstanzas
        self.seconds = seconds
        self.since = since


_NO_LIMIT: Final = 10**15
"""More messages, characters or seconds (31 million years) than any history spans."""


def _limit(element: Element, name: str) -> int | None:
    """A ``<history/>`` limit (§7.2.14), an integer; ``None`` if absent or not one.

    One of more digits than :data:`_NO_LIMIT` limits nothing and reads as it: ``int()``
    refuses more than 4,300 digits, and a float cannot hold ``now`` less so many seconds.
    """
    value = element.get(name)
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0")
    # Fewer digits than _NO_LIMIT's: less than it.
    return int(digits or "0") if len(digits) < len(str(_NO_LIMIT)) else _NO_LIMIT


def history_request(join: Stanza) -> HistoryRequest | None:
    """The ``<history/>`` of a join presence, or ``None`` when it asks for nothing specific."""
    muc = join.find(f"{{{MUC}}}x")
    element = None if muc is None else muc.find(f"{{{MUC}}}history")
    if element is None:
        return None
    since = element.get("since")
    return HistoryRequest(
        maxchars=_limit(element, "maxchars"),
        maxstanzas=_limit(element, "maxstanzas"),
        seconds=_limit(element, "seconds"),
        since=None if since is None else _parse_stamp(since),
    )


_DELAY_SIZE: Final = 67  # <delay xmlns="urn:xmpp:delay" from="" stamp="…Z"/>


_Entry = tuple[Stanza, float, str, int, int, bool]
"""One kept message: ``(stanza, at, key, size, seq, private)``, in that order.

``stanza`` is the message as it came, ``at`` when it was sent (POSIX seconds), ``key``
its :func:`message_key`, ``size`` its characters with the delay it is replayed with,
``seq`` its number in the account's memory of the room, ``private`` whether it is a
private message (§7.5). A plain tuple: one is made per room message, and a class's
constructor would cost that message a twentieth of its time.
"""


class History:
    """The last messages of one room, bounded by count and size, oldest first."""

    __slots__ = ("_bytes", "_descents", "_entries", "_newest", "_private", "_replays")

    def __init__(self) -> None:
        self._entries: deque[_Entry] = deque()
        # The messages as replayed (with one delay: the room's, or one stamped with when
        # they were sent), made on a late join's first use and kept while their entries
        # are (by the entry's id): late joins are rarer than messages, so the live path
        # never formats a timestamp.
        self._replays: dict[int, Stanza] | None = None
        self._bytes = 0
        self._private = 0  # how many entries are private: most histories have none
        # Neighbours numbered lower than the entry before them: a message numbered before
        # it reached the history (one that came before the room answered the join, then
        # again in the room's history), or a late copy of one the account had. While
        # there are none, numbers rise with the buffer and after() stops at the first
        # message a device had.
        self._descents = 0
        self._newest = 0  # the number of the last entry added

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The buffer's size in (approximate) characters of XML."""
        return self._bytes

    @staticmethod
    def stanza_id(stanza: Stanza, room: JID) -> str | None:
        """The room's XEP-0359 stanza-id of a message (``by`` the room), if any."""
        by = None
        for child in stanza.children:
            if child.tag == STANZA_ID:
                if by is None:
                    by = str(room)
                found = _id_by(child, by)
                if found is not None:
                    return found
        return None

    def add(
        self,
        stanza: Stanza,
        room: str,
        now: float,
        config: Config,
        key: str,
        seq: int,
        delay: Element | None,
        size: int,
        private: bool,
    ) -> float:
        """Keep ``stanza`` (a historic message) in the form late joiners get it.

        ``room`` is the room's bare JID as text (a replayed message's delay names it);
        ``key`` is its :func:`message_key`, ``seq`` its number in the account's memory of
        the room (a device's position counts in these numbers), ``delay`` and ``size`` what
        :func:`scan_message` found. A ``private`` message (XEP-0045 §7.5) came while no
        device was there: the next device to come gets it with the history, then it is
        dropped (:meth:`forget_private`). Returns when it was sent: its delay stamp,
        clamped to ``now`` (a remote clock is not trusted further), or ``now`` for a live
        message or a stamp before 0 (1970-01-01, where the router's clock begins). Called
        once per room message, so its arguments are positional.
        """
        at = now
        if delay is None:
            size += _DELAY_SIZE + len(room)  # the delay added when it is replayed
        else:
            parsed = _parse_stamp(delay.get("stamp", ""))
            # Before 0 (1970) is before the router's clock: no stamp to believe.
            if parsed is not None and 0.0 <= parsed < now:
                at = parsed
        entries = self._entries
        if seq < self._newest and entries:
            self._descents += 1
        self._newest = seq
        entries.append((stanza, at, key, size, seq, private))
        self._private += private
        self._bytes += size
        self.trim(config)
        return at

    def trim(self, config: Config) -> None:
        """Drop the oldest entries until ``max_history_messages`` and ``_bytes`` hold."""
        entries = self._entries
        while len(entries) > config.max_history_messages or self._bytes > config.max_history_bytes:
            self.drop_oldest()

    def drop_oldest(self) -> None:
        """Drop the oldest entry (there is one)."""
        entries = self._entries
        old = entries.popleft()
        _, _, _, size, seq, private = old
        self._bytes -= size
        self._private -= private
        if self._descents and entries and entries[0][4] < seq:
            self._descents -= 1
        if self._replays:
            self._replays.pop(id(old), None)

    def _replayed(self, entry: _Entry, room: JID) -> Stanza:
        """The kept message with its delay, made on first use (see ``_replays``)."""
        replays = self._replays
        if replays is None:
            replays = self._replays = {}
        replay = replays.get(id(entry))
        if replay is None:
            stanza = entry[0]
            if stanza.find(DELAY) is None:
                stamp = Element(DELAY, (("from", str(room)), ("stamp", iso_stamp(entry[1]))))
                stanza = stanza._replace(children=(*stanza.children, stamp))
            replay = replays[id(entry)] = stanza
        return replay

    def numbered(self, numbers: Iterable[int]) -> dict[int, Stanza]:
        """The kept messages numbered in ``numbers``, as they came, by number."""
        wanted = set(numbers)
        return {seq: stanza for stanza, _, _, _, seq, _ in self._entries if seq in wanted}

    def select(
        self, request: HistoryRequest | None, now: float, default: int, room: JID
    ) -> list[Stanza]:
        """The newest messages that satisfy every limit of ``request`` (§7.2.14), oldest first."""
        if request is None:
            request = HistoryRequest(maxstanzas=default)
        picked: list[Stanza] = []
        chars = 0
        for entry in reversed(self._entries):
            if request.maxstanzas is not None and len(picked) >= request.maxstanzas:
                break
            _, at, _, size, _, _ = entry
            if request.seconds is not None and at < now - request.seconds:
                break
            if request.since is not None and at <= request.since:
                break
            chars += size
            if request.maxchars is not None and chars > request.maxchars:
                break
            picked.append(self._replayed(entry, room))
        picked.reverse()
        return picked

    def dump(self, stanza: Callable[[Stanza], object]) -> list[object]:
        """The buffer as JSON-safe data (``stanza`` converts one message)."""
        return [[stanza(kept), *rest] for kept, *rest in self._entries]

    @classmethod
    def load(cls, data: Sequence[Any], read: Callable[[Any], _Entry]) -> History:
        """A buffer back from :meth:`dump` (``read`` reads one entry, checking its fields)."""
        history = cls()
        for written in data:
            history._entries.append(entry := read(written))
            history._bytes += entry[3]
            history._private += entry[5]
        history._recount()
        return history

    def rekey(self, room: JID) -> dict[str, str]:
        """Give each entry its :func:`message_key` again; return the changed ones, old to new.

        Snapshots before version 3 keyed every message by a hash; the entries hold the
        messages, so their keys can be made again.
        """
        changed = {}
        entries = deque[_Entry]()
        for kept, at, old, size, seq, private in self._entries:
            key = message_key(kept, room)
            if key != old:
                changed[old] = key
            entries.append((kept, at, key, size, seq, private))
        self._entries = entries
        self._replays = None  # by the old entries' ids
        return changed

    def forget_private(self) -> None:
        """Drop the private messages: a device got them, the others find them archived."""
        if not self._private:
            return
        self._private = 0
        kept = deque(entry for entry in self._entries if not entry[5])
        for _, _, _, size, _, private in self._entries:
            if private:
                self._bytes -= size
        self._entries = kept
        self._replays = None  # their ids are free to be reused
        self._recount()

    def _recount(self) -> None:
        """The order marks again, after the buffer was made other than by :meth:`add`."""
        entries = self._entries
        self._descents = sum(1 for i in range(1, len(entries)) if entries[i][4] < entries[i - 1][4])
        self._newest = entries[-1][4] if entries else 0

    def newest_number(self) -> int:
        """The highest number a kept message has (0: none kept)."""
        return max((entry[4] for entry in self._entries), default=0)

    def number_of(self, sender: JID, stanza_id: str) -> int | None:
        """The number of the kept message ``sender`` sent with ``id`` ``stanza_id``.

        A walk over at most ``Config.max_history_messages`` entries, for the rare bounce.
        """
        for kept, _, _, _, seq, _ in reversed(self._entries):
            if kept.id == stanza_id and kept.from_ == sender:
                return seq
        return None

    def numbers(self) -> set[int]:
        """The numbers of the kept messages."""
        return {entry[4] for entry in self._entries}

    def numbers_from(self, first: int) -> tuple[int, ...]:
        """The numbers of the kept messages from ``first`` on, ascending."""
        return tuple(sorted(n for n in self.numbers() if n >= first))

    def after(self, place: Place, room: JID) -> list[Stanza]:
        """Every kept message a device at ``place`` lacks, oldest first, private ones too.

        That is every one newer than its place, but for those it got after a gap. If the
        buffer no longer reaches back that far, all it has.
        """
        seq = before_gap(place)
        gap = not isinstance(place, int)
        if self._descents:
            # Out of order (rare): the whole buffer, at most max_history_messages entries.
            return [self._replayed(e, room) for e in self._entries if not has(place, e[4])]
        # Newest first, stopping at the first one before the gap: the cost is the number
        # of messages returned, not the length of the buffer.
        picked: list[Stanza] = []
        for entry in reversed(self._entries):
            number = entry[4]
            if number <= seq:
                break
            if not gap or not has(place, number):
                picked.append(self._replayed(entry, room))
        picked.reverse()
        return picked
