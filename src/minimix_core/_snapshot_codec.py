"""How snapshots write stanzas, elements, payloads and JIDs: compact, each payload once."""

from __future__ import annotations

import math
from typing import Any

from ._core import LATEST
from ._jid import JID
from ._stanza import Element, Stanza

__all__ = [
    "Reader",
    "SnapshotError",
    "Writer",
    "array",
    "flag",
    "maybe_string",
    "moment",
    "seconds",
    "string",
    "whole",
]

Json = Any  # what json.loads gives back: checked field by field while loading


class SnapshotError(ValueError):
    """A snapshot that cannot be restored: wrong format, unknown version, or malformed."""


class Writer:
    """Turns the table into JSON-safe data, each payload once.

    Stanzas and elements are nested lists (trailing defaults left out). A payload (a
    stanza's children and its extra attributes, a session's presence payload) goes once
    into the snapshot's ``payloads`` table, as ``[children]`` or ``[children, attrs]``,
    and is referred to by its index: the accounts in one room keep equal ones. An
    element's tag and each attribute's name go once into the ``names`` table (version 5),
    and are written as their index: every account's self-presence differs from the next
    (its occupant-id, its real JID), so the snapshot writes one per occupancy, and its
    namespaced tags were half of it. Inside an account, its own JID is written ``""`` and a
    full JID of the context (the room, for stanzas; the account, for sessions) as
    ``"/resource"``.
    """

    __slots__ = ("account", "index", "name_index", "names", "payloads", "room")

    def __init__(self) -> None:
        self.payloads: list[Json] = []
        self.index: dict[tuple[tuple[tuple[str, str], ...], tuple[Element, ...]], int] = {}
        self.names: list[str] = []
        self.name_index: dict[str, int] = {}
        self.account = ""
        self.room = ""

    def name(self, text: str) -> int:
        """``text``'s index in the ``names`` table, added on first use."""
        number = self.name_index.get(text)
        if number is None:
            number = self.name_index[text] = len(self.names)
            self.names.append(text)
        return number

    def attributes(self, attrs: tuple[tuple[str, str], ...]) -> Json:
        return [[self.name(name), value] for name, value in attrs]

    def element(self, el: Element) -> Json:
        out = [
            self.name(el.tag),
            self.attributes(el.attrs),
            [self.element(c) for c in el.children],
            el.text,
            el.tail,
        ]
        while out[-1] is None or out[-1] == []:  # trailing defaults; a text "" stays
            out.pop()
        return out

    def payload(
        self, children: tuple[Element, ...], attrs: tuple[tuple[str, str], ...] = ()
    ) -> int:
        key = (attrs, children)
        number = self.index.get(key)
        if number is None:
            number = self.index[key] = len(self.payloads)
            entry: list[Json] = [[self.element(c) for c in children]]
            if attrs:
                entry.append(self.attributes(attrs))
            self.payloads.append(entry)
        return number

    def jid(self, jid: JID | None, base: str) -> str | None:
        if jid is None:
            return None
        text = str(jid)
        if text == self.account:
            return ""
        if jid.resource is not None and text.startswith(base) and text[len(base)] == "/":
            return text[len(base) :]
        return text

    def stanza(self, s: Stanza | None) -> Json:
        if s is None:
            return None
        room = self.room
        out = [
            self.payload(s.children, s.attrs),
            s.kind,
            s.type,
            self.jid(s.from_, room),
            self.jid(s.to, room),
            s.id,
        ]
        while out[-1] is None:
            out.pop()
        return out


class Reader:
    """The inverse of :class:`Writer`; also reads version 1's inline stanzas and JIDs.

    ``names`` is the snapshot's table of tags and attribute names (version 5), a list, and
    the names are indexes into it; without it (before version 5), they are written out
    where they stand. ``inline`` reads version 1, whose stanzas and payloads stand where
    they are used; from version 2 on, they are indexes into ``payloads`` (a payload
    written where it stands is damage), the empty payload ``[]`` aside.
    """

    __slots__ = ("account", "inline", "keys", "names", "payloads", "room")

    def __init__(
        self,
        payloads: list[Json] | None = None,
        names: list[Json] | None = None,
        *,
        inline: bool = False,
    ) -> None:
        self.inline = inline
        if names is not None and not isinstance(names, list):
            raise SnapshotError(f"not a table of names: {names!r}")
        self.names: list[str] | None = None if names is None else [_text(n) for n in names]
        self.payloads: list[tuple[tuple[tuple[str, str], ...], tuple[Element, ...]]] = [
            (
                self.attributes(more[0] if more else []),
                tuple(self.element(e) for e in _list(children, "children")),
            )
            for children, *more in (_entry(p) for p in _list(payloads or [], "payloads"))
        ]
        self.account: JID | None = None
        self.room: JID | None = None
        self.keys: dict[str, str] = {}
        """One string for each message key, however many tables hold it: JSON gives one
        per occurrence, and an account's memory, the messages passed on and the history
        each name the same messages."""

    def key(self, data: Json) -> str:
        """A message key, the one string the restore holds for that text."""
        if not isinstance(data, str):
            raise SnapshotError(f"not a message key: {data!r}")
        return self.keys.setdefault(data, data)

    def history_entry(self, data: Json) -> tuple[Stanza, float, str, int, int, bool]:
        """A history entry as :meth:`History.dump` writes it, each field checked."""
        message, at, key, size, seq, private = _list(data, "a history entry")
        return (
            self.stanza(message),
            moment(at),
            self.key(key),
            whole(size),
            whole(seq),
            flag(private),
        )

    def name(self, data: Json) -> str:
        """A tag or attribute name: its index in ``names``, or itself before version 5."""
        if self.names is None:
            if isinstance(data, str):
                return data
        elif type(data) is int and data >= 0:
            return self.names[data]
        raise SnapshotError(f"not a name: {data!r}")

    def attributes(self, data: Json) -> tuple[tuple[str, str], ...]:
        return tuple(
            (self.name(k), string(v)) for k, v in (_pair(a) for a in _list(data, "attributes"))
        )

    def element(self, data: Json) -> Element:
        fields = _list(data, "an element")
        if not 1 <= len(fields) <= 5:
            raise SnapshotError(f"not an element: {data!r}")
        tag, attrs, children, text, tail = fields + [None] * (5 - len(fields))
        return Element(
            self.name(tag),
            self.attributes([] if attrs is None else attrs),
            tuple(self.element(c) for c in _list([] if children is None else children, "children")),
            maybe_string(text),
            maybe_string(tail),
        )

    def payload(self, data: Json) -> tuple[Element, ...]:
        if isinstance(data, int) and not isinstance(data, bool):
            return self.payloads[_index(data)][1]
        if not self.inline and data != []:
            raise SnapshotError(f"a payload where its place in the payloads belongs: {data!r}")
        return tuple(self.element(e) for e in _list(data, "children"))

    def jid(self, text: Json, base: JID | None) -> JID | None:
        if text is None:
            return None
        text = string(text)
        if text == "" and self.account is not None:
            return self.account
        if text.startswith("/") and base is not None:
            return base.with_resource(text[1:])
        return JID.parse(text)

    def stanza(self, data: Json) -> Stanza:
        if isinstance(data[0], str):  # version 1: attributes and children inline
            if not self.inline:
                raise SnapshotError(f"a stanza written out as version 1 wrote it: {data!r}")
            kind, type_, from_, to, id_, inline, children = data
            attrs = self.attributes(inline)
            payload = self.payload(children)
        else:
            fields: list[Json] = list(data)
            number, kind, type_, from_, to, id_ = fields + [None] * (6 - len(fields))
            attrs, payload = self.payloads[_index(number)]
        if kind not in ("message", "presence", "iq"):
            raise SnapshotError(f"not a stanza kind: {kind!r}")
        return Stanza(
            kind,
            type=maybe_string(type_),
            from_=self.jid(from_, self.room),
            to=self.jid(to, self.room),
            id=maybe_string(id_),
            attrs=attrs,
            children=payload,
        )

    def full(self, text: Json, base: JID | None) -> JID:
        jid = self.jid(text, base)
        if jid is None:
            raise SnapshotError("a JID is missing")
        return jid

    def maybe_stanza(self, data: Json) -> Stanza | None:
        return None if data is None else self.stanza(data)


def _text(data: Json) -> str:
    if not isinstance(data, str):
        raise SnapshotError(f"not a name: {data!r}")
    return data


def whole(data: Json) -> int:
    """A count, a number or a place the snapshot wrote: a whole number, not negative.

    JSON's ``true`` would pass :func:`int` as 1 and ``2.5`` as 2.
    """
    if type(data) is not int or data < 0:
        raise SnapshotError(f"not a whole number: {data!r}")
    return data


def flag(data: Json) -> bool:
    """A yes or no the snapshot wrote: ``bool("false")`` would be true."""
    if type(data) is not bool:
        raise SnapshotError(f"not true or false: {data!r}")
    return data


def seconds(data: Json) -> float:
    """A time or a deadline the snapshot wrote, POSIX seconds: finite and not negative.

    A NaN would compare false with every time, and a deadline of one would never fire.
    """
    if type(data) not in (int, float) or not (data >= 0.0 and math.isfinite(data)):
        raise SnapshotError(f"not a time in seconds: {data!r}")
    return float(data)


def moment(data: Json) -> float:
    """A time something happened (the router's clock then): no later than :data:`LATEST`.

    A history entry's time, the last message's and the join's are written as XEP-0082
    stamps, which end with the year 9999.
    """
    at = seconds(data)
    if at > LATEST:
        raise SnapshotError(f"a time after the year 9999: {data!r}")
    return at


def _index(data: Json) -> int:
    """An index into the ``payloads`` table: a whole number, not negative."""
    if type(data) is not int or data < 0:
        raise SnapshotError(f"not a payload index: {data!r}")
    return data


def string(data: Json) -> str:
    """A string the snapshot wrote: an attribute's value, a text, a JID, a type, an id, a nick."""
    if not isinstance(data, str):
        raise SnapshotError(f"not a string: {data!r}")
    return data


def maybe_string(data: Json) -> str | None:
    """An optional string: one, or null."""
    return None if data is None else string(data)


def _list(data: Json, what: str) -> list[Json]:
    """A list the snapshot wrote: a string or a mapping would be taken apart as one."""
    if not isinstance(data, list):
        raise SnapshotError(f"not {what}: {data!r}")
    return data


def array(data: Json) -> list[Json] | tuple[Json, ...]:
    """A list the snapshot wrote, or a pair or an entry in one.

    Iterating a string would take it apart into one-character fields, and a mapping or
    ``""`` would be empty. A tuple passes: :meth:`Router.snapshot` writes some pairs as
    tuples, which JSON turns into lists.
    """
    if not isinstance(data, (list, tuple)):
        raise SnapshotError(f"not a list: {data!r}")
    return data


def _entry(data: Json) -> list[Json]:
    """A ``payloads`` entry: ``[children]`` or ``[children, attrs]``."""
    entry = _list(data, "a payload")
    if not 1 <= len(entry) <= 2:
        raise SnapshotError(f"not a payload: {data!r}")
    return entry


def _pair(data: Json) -> list[Json]:
    """An attribute: ``[name, value]``."""
    pair = _list(data, "an attribute")
    if len(pair) != 2:
        raise SnapshotError(f"not an attribute: {data!r}")
    return pair
