"""How snapshots write stanzas, elements, payloads and JIDs: compact, each payload once."""

from __future__ import annotations

from typing import Any

from ._jid import JID
from ._stanza import Element, Stanza

__all__ = ["Reader", "SnapshotError", "Writer", "element_data", "load_element"]

Json = Any  # what json.loads gives back: checked field by field while loading


class SnapshotError(ValueError):
    """A snapshot that cannot be restored: wrong format, unknown version, or malformed."""


class Writer:
    """Turns the table into JSON-safe data, each payload once.

    Stanzas and elements are nested lists (trailing defaults left out). A payload (a
    stanza's children and its extra attributes, a session's presence payload) goes once
    into the snapshot's ``payloads`` table, as ``[children]`` or ``[children, attrs]``,
    and is referred to by its index: the accounts in one room keep equal ones. Inside an
    account, its own JID is written ``""`` and a full JID of the context (the room, for
    stanzas; the account, for sessions) as ``"/resource"``.
    """

    __slots__ = ("account", "index", "payloads", "room")

    def __init__(self) -> None:
        self.payloads: list[Json] = []
        self.index: dict[tuple[tuple[tuple[str, str], ...], tuple[Element, ...]], int] = {}
        self.account = ""
        self.room = ""

    def payload(
        self, children: tuple[Element, ...], attrs: tuple[tuple[str, str], ...] = ()
    ) -> int:
        key = (attrs, children)
        number = self.index.get(key)
        if number is None:
            number = self.index[key] = len(self.payloads)
            entry: list[Json] = [[element_data(c) for c in children]]
            if attrs:
                entry.append([list(a) for a in attrs])
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


def element_data(el: Element) -> Json:
    out = [
        el.tag,
        [list(a) for a in el.attrs],
        [element_data(c) for c in el.children],
        el.text,
        el.tail,
    ]
    while out[-1] is None or out[-1] == []:  # trailing defaults; a text "" stays
        out.pop()
    return out


class Reader:
    """The inverse of :class:`_Writer`; also reads version 1's inline stanzas and JIDs."""

    __slots__ = ("account", "keys", "payloads", "room")

    def __init__(self, payloads: list[Json] | None = None) -> None:
        self.payloads: list[tuple[tuple[tuple[str, str], ...], tuple[Element, ...]]] = [
            (
                tuple((str(k), str(v)) for k, v in (more[0] if more else ())),
                tuple(load_element(e) for e in children),
            )
            for children, *more in payloads or ()
        ]
        self.account: JID | None = None
        self.room: JID | None = None
        self.keys: dict[str, str] = {}
        """One string for each message key, however many tables hold it: JSON gives one
        per occurrence, and an account's memory, the messages passed on and the history
        each name the same messages."""

    def key(self, data: Json) -> str:
        """A message key, the one string the restore holds for that text."""
        text = str(data)
        return self.keys.setdefault(text, text)

    def payload(self, data: Json) -> tuple[Element, ...]:
        if isinstance(data, int) and not isinstance(data, bool):
            return self.payloads[data][1]
        return tuple(load_element(e) for e in data)  # version 1: inline

    def jid(self, text: Json, base: JID | None) -> JID | None:
        if text is None:
            return None
        text = str(text)
        if text == "" and self.account is not None:
            return self.account
        if text.startswith("/") and base is not None:
            return base.with_resource(text[1:])
        return JID.parse(text)

    def stanza(self, data: Json) -> Stanza:
        if isinstance(data[0], str):  # version 1: attributes and children inline
            kind, type_, from_, to, id_, inline, children = data
            attrs = tuple((str(k), str(v)) for k, v in inline)
            payload = self.payload(children)
        else:
            fields: list[Json] = list(data)
            number, kind, type_, from_, to, id_ = fields + [None] * (6 - len(fields))
            attrs, payload = self.payloads[int(number)]
        if kind not in ("message", "presence", "iq"):
            raise SnapshotError(f"not a stanza kind: {kind!r}")
        return Stanza(
            kind,
            type=type_,
            from_=self.jid(from_, self.room),
            to=self.jid(to, self.room),
            id=id_,
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


def load_element(data: Json) -> Element:
    fields: list[Json] = list(data)
    tag, attrs, children, text, tail = fields + [None] * (5 - len(fields))
    return Element(
        str(tag),
        tuple((str(k), str(v)) for k, v in attrs or ()),
        tuple(load_element(c) for c in children or ()),
        None if text is None else str(text),
        None if tail is None else str(tail),
    )
