"""Immutable stanza values: the only form of XML the core ever sees.

A :class:`Stanza` keeps its routing attributes (kind, type, from, to, id) as fields and
its payload as a tuple of immutable :class:`Element` trees, exactly as parsed. Rewriting a
stanza (a new ``to`` for a fork, a fresh ``id``) makes a new value that shares the
payload tuple, so forking to k sessions costs k small objects and nothing is re-parsed
or copied deeply.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, NamedTuple, overload

from attrs import evolve, field, frozen

from ._jid import JID

__all__ = [
    "CLIENT_NS",
    "XML_LANG",
    "Element",
    "Stanza",
    "StanzaKind",
    "element_size",
    "payload_size",
    "same_payload",
]

CLIENT_NS = "jabber:client"
"""The namespace of stanzas and of their plain children (body, subject, status, ...)."""
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
"""The Clark name of ``xml:lang``."""

StanzaKind = Literal["message", "presence", "iq"]
"""The three stanza kinds of RFC 6120."""

Attributes = tuple[tuple[str, str], ...]


def _qualify(name: str) -> str:
    # Plain names ("body") are children in the stanza's own namespace.
    return name if name.startswith("{") else f"{{{CLIENT_NS}}}{name}"


def _find(children: tuple[Element, ...], tag: str) -> Element | None:
    tag = _qualify(tag)
    for child in children:
        if child.tag == tag:
            return child
    return None


def _findall(children: tuple[Element, ...], tag: str) -> Iterator[Element]:
    tag = _qualify(tag)
    return (child for child in children if child.tag == tag)


def _get(attributes: Attributes, name: str, default: str | None) -> str | None:
    for key, value in attributes:
        if key == name:
            return value
    return default


@frozen(cache_hash=True, weakref_slot=False)
class Element:
    """An immutable XML element: ``tag`` in Clark notation (``{namespace}name``).

    ``attrs`` is a tuple of ``(name, value)`` pairs in document order (namespaced
    attribute names in Clark notation too), ``children`` a tuple of elements, ``text``
    the character data before the first child and ``tail`` the data after this element
    inside its parent. Whitespace between child elements is not kept.

    >>> body = Element("{jabber:client}body", text="hi")
    >>> body.text
    'hi'
    """

    tag: str
    attrs: Attributes = ()
    children: tuple[Element, ...] = ()
    text: str | None = None
    tail: str | None = None
    # Serialized form as a child of a jabber:client element; a memo the XML edge fills on
    # first use (object.__setattr__: it caches, it does not change the value) so that k
    # forks of one payload serialize it once.
    _xml: str | None = field(default=None, init=False, eq=False, repr=False, hash=False)
    # Its size without a namespace declaration (see :func:`element_size`), the same kind of
    # memo: the parser fills it as it builds the element, anything else on first use.
    _size: int = field(default=-1, init=False, eq=False, repr=False, hash=False)

    @property
    def namespace(self) -> str:
        """The element's namespace URI ('' when it has none)."""
        return self.tag[1:].partition("}")[0] if self.tag.startswith("{") else ""

    @property
    def name(self) -> str:
        """The element's local name."""
        return self.tag.rpartition("}")[2]

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of attribute ``name``, or ``default``."""
        return _get(self.attrs, name, default)

    def find(self, tag: str) -> Element | None:
        """The first child with this tag (plain names mean ``jabber:client``)."""
        return _find(self.children, tag)

    def findall(self, tag: str) -> Iterator[Element]:
        """Every child with this tag, in order."""
        return _findall(self.children, tag)

    def replace(self, **changes: Any) -> Element:
        """A copy with some fields changed."""
        return evolve(self, **changes)


class Stanza(NamedTuple):
    """An immutable XMPP stanza (``message``, ``presence`` or ``iq``).

    ``from_`` and ``to`` are parsed :class:`JID` values (``None`` when absent); other
    root attributes (``xml:lang``...) stay in ``attrs``; ``children`` is the payload.
    A named tuple: every router step makes stanzas (a fork per session), and a tuple is
    the cheapest immutable value Python builds.

    >>> s = Stanza("message", type="groupchat", to=JID.parse("room@muc.example"))
    >>> s.with_to(JID.parse("alice@example.org/phone")).to
    JID('alice@example.org/phone')
    """

    kind: StanzaKind
    type: str | None = None
    from_: JID | None = None
    to: JID | None = None
    id: str | None = None
    attrs: Attributes = ()
    children: tuple[Element, ...] = ()

    def find(self, tag: str) -> Element | None:
        """The first payload child with this tag (plain names mean ``jabber:client``)."""
        return _find(self.children, tag)

    def findall(self, tag: str) -> Iterator[Element]:
        """Every payload child with this tag, in order."""
        return _findall(self.children, tag)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of another root attribute (``xml:lang`` is :data:`XML_LANG`)."""
        return _get(self.attrs, name, default)

    def replace(self, **changes: Any) -> Stanza:
        """A copy with some fields changed; the payload is shared, not copied."""
        return self._replace(**changes)

    def as_element(self) -> Element:
        """The stanza as an element in ``jabber:client``, to wrap it (forwarded, carbons)."""
        attributes: list[tuple[str, str]] = []
        for name, value in (
            ("from", self.from_),
            ("to", self.to),
            ("type", self.type),
            ("id", self.id),
        ):
            if value is not None:
                attributes.append((name, str(value)))
        return Element(f"{{{CLIENT_NS}}}{self.kind}", (*attributes, *self.attrs), self.children)

    def with_to(self, to: JID) -> Stanza:
        """A copy addressed to ``to``: the fork of a stanza to one session."""
        kind, type_, from_, _, id_, attrs, children = self
        return Stanza(kind, type_, from_, to, id_, attrs, children)

    def with_from(self, from_: JID) -> Stanza:
        """A copy sent from ``from_``: a session's stanza rewritten to the account."""
        kind, type_, _, to, id_, attrs, children = self
        return Stanza(kind, type_, from_, to, id_, attrs, children)

    def with_children(self, children: tuple[Element, ...]) -> Stanza:
        """A copy with another payload: a kept stanza given the pooled, equal one."""
        kind, type_, from_, to, id_, attrs, _ = self
        return Stanza(kind, type_, from_, to, id_, attrs, children)


def _canonical(element: Element) -> tuple[object, ...]:
    return (
        element.tag,
        tuple(sorted(element.attrs)),
        tuple(_canonical(child) for child in element.children),
        element.text,
        element.tail,
    )


def same_payload(a: tuple[Element, ...], b: tuple[Element, ...]) -> bool:
    """Equal payloads up to attribute order, which XML does not fix (and servers vary).

    Element equality is exact and cheap; this is for the few places that must recognise a
    room re-sending what it sent before (a rejoin's resync).
    """
    return a == b or [_canonical(e) for e in a] == [_canonical(e) for e in b]


_new_object = object.__new__
_SLOTS = vars(Element)


def make_element(
    tag: str,
    attrs: Attributes,
    children: tuple[Element, ...],
    text: str | None,
    tail: str | None,
    size: int,
) -> Element:
    """``Element(tag, attrs, children, text, tail)`` with its size memo already known.

    For the parser, which builds every element of every stanza: the same value as the
    constructor's, made by setting the slots directly (about a third cheaper).
    """
    element: Element = _new_object(Element)
    _set_tag(element, tag)
    _set_attrs(element, attrs)
    _set_children(element, children)
    _set_text(element, text)
    _set_tail(element, tail)
    _set_xml(element, None)
    _set_size(element, size)
    _set_hash(element, None)
    return element


(_set_tag, _set_attrs, _set_children, _set_text, _set_tail, _set_xml, _set_size, _set_hash) = (
    _SLOTS[name].__set__
    for name in ("tag", "attrs", "children", "text", "tail", "_xml", "_size", "_attrs_cached_hash")
)


def _inner_size(element: Element) -> int:
    tag = element.tag
    end = tag.find("}")  # -1 for a tag without namespace: the slice below still holds
    ns = tag[1:end] if end > 0 else ""
    size = 2 * (len(tag) - end - 1) + 5
    if element.text:
        size += len(element.text)
    if element.tail:
        size += len(element.tail)
    for key, value in element.attrs:
        size += len(key) + len(value) + 4
    for child in element.children:
        size += element_size(child, ns)
    object.__setattr__(element, "_size", size)
    return size


def element_size(element: Element, parent_ns: str = CLIENT_NS) -> int:
    """About the length in characters of the element's XML as a child of ``parent_ns``.

    What history's ``maxchars`` (XEP-0045 §7.2.14) and the size bounds count. Within a
    few characters of the text the XML edge writes (entity escapes and attribute prefixes
    are not counted). Computed once per element: later calls read a memo.
    """
    size = element._size
    if size < 0:
        size = _inner_size(element)
    tag = element.tag
    end = tag.find("}")
    if end < 0:
        return size if parent_ns == "" else size + 9  # ' xmlns=""'
    if end == len(parent_ns) + 1 and tag.startswith(parent_ns, 1):
        return size
    return size + end + 8  # ' xmlns="…"' around the end - 1 characters of the namespace


def payload_size(children: tuple[Element, ...]) -> int:
    """:func:`element_size` of every payload element of a stanza, summed (characters)."""
    return sum([element_size(child) for child in children])
