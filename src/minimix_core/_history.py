"""Each occupancy's bounded buffer of the room's historic messages (XEP-0045 §7.2.13).

What the buffer keeps is what a room's own history would: messages with a body or
another storable payload, not chat states or messages marked ``no-store``. Each entry is
kept in the form a late joiner gets it: with one ``<delay/>`` from the room, the room's
own when it sent one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from ._config import Config
from ._jid import JID
from ._muc import DELAY, HINTS, MUC, STANZA_ID
from ._stanza import CLIENT_NS, Element, Stanza, element_size

__all__ = ["History", "HistoryRequest", "history_request", "iso_stamp"]

_BODY: Final = f"{{{CLIENT_NS}}}body"
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


def iso_stamp(seconds: float) -> str:
    """XEP-0082 DateTime (UTC, ``Z``) for POSIX seconds."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{moment.microsecond // 1000:03d}Z" if moment.microsecond else "Z"
    )


def _parse_stamp(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def is_historic(stanza: Stanza) -> bool:
    """A groupchat message a room would keep in its history."""
    historic = False
    for child in stanza.children:
        tag = child.tag
        if tag in _NOT_STORED:
            return False
        if tag == _BODY or tag in _STORABLE:
            historic = True
    return historic


def _address_length(jid: JID) -> int:
    """``len(str(jid))``, without making the string."""
    length = len(jid.domain)
    if jid.local is not None:
        length += len(jid.local) + 1
    if jid.resource is not None:
        length += len(jid.resource) + 1
    return length


def _envelope(stanza: Stanza) -> int:
    """The size of the stanza's own tags and routing attributes (see :func:`element_size`)."""
    size = 2 * len(stanza.kind) + 5
    if stanza.from_ is not None:
        size += _address_length(stanza.from_) + 8
    if stanza.to is not None:
        size += _address_length(stanza.to) + 8
    if stanza.type is not None:
        size += len(stanza.type) + 8
    if stanza.id is not None:
        size += len(stanza.id) + 8
    return size


def _id_by(element: Element, by: str) -> str | None:
    """The ``id`` of a stanza-id element if it is ``by`` that entity, else ``None``."""
    found_by = found_id = None
    for key, value in element.attrs:
        if key == "by":
            found_by = value
        elif key == "id":
            found_id = value
    return found_id if found_by == by else None


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


def _limit(element: Element, name: str) -> int | None:
    value = element.get(name)
    return int(value) if value is not None and value.isdigit() else None


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


class _Entry:
    __slots__ = ("at", "replay", "seq", "size", "stanza", "stanza_id")

    def __init__(
        self, stanza: Stanza, at: float, stanza_id: str | None, size: int, seq: int
    ) -> None:
        self.stanza = stanza
        self.at = at
        self.stanza_id = stanza_id
        self.size = size
        self.seq = seq
        self.replay: Stanza | None = None
        """The message as replayed: with one delay (the room's, or one stamped ``at``)."""

    def replayed(self, room: JID) -> Stanza:
        """The stored message with its delay, made on first use.

        Late joins are rarer than messages, so the live path never formats a timestamp.
        """
        replay = self.replay
        if replay is None:
            stanza = self.stanza
            if stanza.find(DELAY) is None:
                stamp = Element(DELAY, (("from", str(room)), ("stamp", iso_stamp(self.at))))
                stanza = stanza._replace(children=(*stanza.children, stamp))
            replay = self.replay = stanza
        return replay


class History:
    """The last messages of one room, bounded by count and size, oldest first."""

    __slots__ = ("_bytes", "_entries", "_ids", "last_seq")

    def __init__(self) -> None:
        self._entries: deque[_Entry] = deque()
        self._ids: dict[str, None] = {}
        self._bytes = 0
        self.last_seq = 0
        """The number of the newest message ever added: a device's position."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The buffer's size in (approximate) characters of XML."""
        return self._bytes

    def __contains__(self, stanza_id: str) -> bool:
        return stanza_id in self._ids

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

    def add(self, stanza: Stanza, room: JID, now: float, config: Config) -> float:
        """Keep ``stanza`` (a historic message) in the form late joiners get it.

        Returns when it was sent: its delay stamp, or ``now`` for a live message. One
        pass over the payload finds the delay and the room's stanza-id and sums the size
        (the elements' sizes are memos, most made by the parser).
        """
        delay: Element | None = None
        stanza_id: str | None = None
        size = _envelope(stanza)
        by = None
        for child in stanza.children:
            size += element_size(child)
            tag = child.tag
            if tag == DELAY:
                if delay is None:
                    delay = child
            elif tag == STANZA_ID and stanza_id is None:
                if by is None:
                    by = str(room)
                stanza_id = _id_by(child, by)
        at = now
        if delay is None:
            size += _DELAY_SIZE + _address_length(room)  # the delay added when it is replayed
        else:
            parsed = _parse_stamp(delay.get("stamp", ""))
            at = parsed if parsed is not None else now
        self.last_seq += 1
        entries = self._entries
        entries.append(_Entry(stanza, at, stanza_id, size, self.last_seq))
        self._bytes += size
        if stanza_id is not None:
            self._ids[stanza_id] = None
        while entries and (
            len(entries) > config.max_history_messages or self._bytes > config.max_history_bytes
        ):
            old = entries.popleft()
            self._bytes -= old.size
            if old.stanza_id is not None:
                self._ids.pop(old.stanza_id, None)
        return at

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
            if request.seconds is not None and entry.at < now - request.seconds:
                break
            if request.since is not None and entry.at <= request.since:
                break
            chars += entry.size
            if request.maxchars is not None and chars > request.maxchars:
                break
            picked.append(entry.replayed(room))
        picked.reverse()
        return picked

    def dump(self, stanza: Callable[[Stanza], object]) -> list[object]:
        """The buffer as JSON-safe data (``stanza`` converts one message)."""
        entries = [[stanza(e.stanza), e.at, e.stanza_id, e.size, e.seq] for e in self._entries]
        return [self.last_seq, entries]

    @classmethod
    def load(cls, data: list[Any], stanza: Callable[[Any], Stanza]) -> History:
        """A buffer back from :meth:`dump`."""
        history = cls()
        last_seq, entries = data
        history.last_seq = int(last_seq)
        for message, at, stanza_id, size, seq in entries:
            entry = _Entry(stanza(message), float(at), stanza_id, int(size), int(seq))
            history._entries.append(entry)
            history._bytes += entry.size
            if stanza_id is not None:
                history._ids[stanza_id] = None
        return history

    def after(self, seq: int, room: JID) -> list[Stanza]:
        """Every kept message newer than position ``seq``, oldest first.

        If the buffer no longer reaches back that far, all it has.
        """
        # Newest first, stopping at the first one the device has seen: the cost is the
        # number of messages returned, not the length of the buffer.
        picked: list[Stanza] = []
        for entry in reversed(self._entries):
            if entry.seq <= seq:
                break
            picked.append(entry.replayed(room))
        picked.reverse()
        return picked
