"""The XML edge: text in, :class:`Stanza` out, and back. Nothing else touches XML text.

Parsing goes through defusedxml, so entity declarations, DTDs and external references
are refused instead of expanded; size and depth are bounded before anything is built.
Every refusal is one exception type, :class:`StanzaParseError`, whose message says what
was wrong.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache
from sys import intern
from typing import Final

import defusedxml
import defusedxml.ElementTree

from ._jid import JID, InvalidJID
from ._stanza import CLIENT_NS, Element, Stanza, StanzaKind

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_STANZA_BYTES",
    "StanzaParseError",
    "parse_stanza",
    "serialize",
]

DEFAULT_MAX_STANZA_BYTES: Final = 256 * 1024
"""Default size bound of one stanza: room for a vCard photo, too small for a flood."""
DEFAULT_MAX_DEPTH: Final = 32
"""Default nesting bound; real stanzas nest fewer than 10 levels (forwarded MAM results)."""

# Stream namespaces whose stanzas and plain children mean the same as jabber:client.
_STREAM_NAMESPACES: Final = frozenset({"", CLIENT_NS, "jabber:server", "jabber:component:accept"})
_KINDS: Final[dict[str, StanzaKind]] = {
    "message": "message",
    "presence": "presence",
    "iq": "iq",
}
_ROUTING_ATTRS: Final = frozenset({"type", "from", "to", "id"})
_XML_NS: Final = "http://www.w3.org/XML/1998/namespace"


class StanzaParseError(ValueError):
    """The input is not a stanza the library accepts; ``str(error)`` says why.

    Raised for malformed XML, entity declarations, DTDs, external references, input
    over the size or depth bound, a root that is not ``message``/``presence``/``iq``,
    and ``from``/``to`` values that are not JIDs.
    """


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _convert(node: ET.Element, depth: int, max_depth: int) -> Element:
    if depth > max_depth:
        raise StanzaParseError(f"nested deeper than {max_depth} elements")
    ns, name = _split(node.tag)
    # Interned: the same few hundred names come in every stanza; one copy each is enough.
    tag = intern(f"{{{CLIENT_NS}}}{name}" if ns in _STREAM_NAMESPACES else node.tag)
    children = tuple(_convert(child, depth + 1, max_depth) for child in node)
    text = node.text
    if children and text is not None and not text.strip():
        text = None  # whitespace between child elements is formatting, not content
    tail = node.tail
    if tail is not None and not tail.strip():
        tail = None
    attributes = tuple((intern(k), v) for k, v in node.attrib.items())
    return Element(tag, attributes, children, text, tail)


def parse_stanza(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_STANZA_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Stanza:
    """Parse one stanza (``<message/>``, ``<presence/>`` or ``<iq/>``) from XML text.

    A root without ``xmlns`` is taken to be in ``jabber:client``; ``jabber:server`` and
    ``jabber:component:accept`` are read as ``jabber:client`` too. Raises
    :class:`StanzaParseError` for anything else, never another exception.

    >>> s = parse_stanza("<message to='room@muc.example' type='groupchat'><body>hi</body></message>"
    ... )
    >>> s.kind, s.type, str(s.to), s.find("body").text
    ('message', 'groupchat', 'room@muc.example', 'hi')
    """
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise StanzaParseError(f"stanza of {size} bytes is over the bound of {max_bytes}")
    try:
        root = defusedxml.ElementTree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        # Entities and external references can only be declared in a DTD, so with DTDs
        # forbidden this is the one refusal; the other flags are kept as a second wall.
        raise StanzaParseError("DTDs, entities and external references are not allowed") from exc
    except (ET.ParseError, ValueError) as exc:
        raise StanzaParseError(f"malformed XML: {exc}") from exc
    ns, name = _split(root.tag)
    if ns not in _STREAM_NAMESPACES or name not in _KINDS:
        raise StanzaParseError(f"root element {root.tag!r} is not a stanza")
    try:
        from_ = JID.parse(root.attrib["from"]) if "from" in root.attrib else None
        to = JID.parse(root.attrib["to"]) if "to" in root.attrib else None
    except InvalidJID as exc:
        raise StanzaParseError(f"bad address: {exc}") from exc
    children = tuple(_convert(child, 2, max_depth) for child in root)
    extra = tuple((k, v) for k, v in root.attrib.items() if k not in _ROUTING_ATTRS)
    return Stanza(
        _KINDS[name],
        type=root.attrib.get("type"),
        from_=from_,
        to=to,
        id=root.attrib.get("id"),
        attrs=extra,
        children=children,
    )


def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _escape_attr(value: str) -> str:
    value = _escape_text(value)
    if '"' in value:
        value = value.replace('"', "&quot;")
    for char, ref in (("\n", "&#10;"), ("\r", "&#13;"), ("\t", "&#9;")):
        if char in value:
            value = value.replace(char, ref)
    return value


def _attributes(pairs: tuple[tuple[str, str], ...], out: list[str]) -> None:
    prefixes = 0
    for key, value in pairs:
        ns, name = _split(key)
        if not ns:
            out.append(f' {name}="{_escape_attr(value)}"')
        elif ns == _XML_NS:
            out.append(f' xml:{name}="{_escape_attr(value)}"')
        else:
            prefix = f"a{prefixes}"
            prefixes += 1
            out.append(
                f' xmlns:{prefix}="{_escape_attr(ns)}" {prefix}:{name}="{_escape_attr(value)}"'
            )


def _write(el: Element, parent_ns: str, out: list[str], indent: str | None, level: int) -> None:
    ns, name = _split(el.tag)
    out.append(f"<{name}")
    if ns != parent_ns:
        out.append(f' xmlns="{_escape_attr(ns)}"')
    _attributes(el.attrs, out)
    if not el.children and el.text is None:
        out.append("/>")
    else:
        out.append(">")
        # Mixed content is written as it is: indenting it would change the text.
        pretty = indent is not None and el.children and el.text is None
        pretty = pretty and all(child.tail is None for child in el.children)
        if el.text is not None:
            out.append(_escape_text(el.text))
        for child in el.children:
            if pretty:
                out.append("\n" + indent * (level + 1))  # type: ignore[operator]
            _write(child, ns, out, indent if pretty else None, level + 1)
        if pretty:
            out.append("\n" + indent * level)  # type: ignore[operator]
        out.append(f"</{name}>")
    if el.tail is not None:
        out.append(_escape_text(el.tail))


def _child_xml(el: Element) -> str:
    memo = el._xml
    if memo is not None:
        return memo
    out: list[str] = []
    _write(el, CLIENT_NS, out, None, 0)
    text = "".join(out)
    object.__setattr__(el, "_xml", text)
    return text


# A fork differs from its original only in ``to``: the parts every fork shares are written
# once and looked up again (stanzas, elements and JIDs are immutable and hashable).
@lru_cache(maxsize=16384)
def _address(name: str, jid: JID) -> str:
    return f' {name}="{_escape_attr(str(jid))}"'


@lru_cache(maxsize=16384)
def _attribute(name: str, value: str) -> str:
    return f' {name}="{_escape_attr(value)}"'


@lru_cache(maxsize=1024)
def _root_attributes(pairs: tuple[tuple[str, str], ...]) -> str:
    out: list[str] = []
    _attributes(pairs, out)
    return "".join(out)


@lru_cache(maxsize=4096)
def _payload(children: tuple[Element, ...]) -> str:
    return "".join(_child_xml(child) for child in children)


def serialize(obj: Stanza | Element, *, indent: str | None = None) -> str:
    """XML text for a stanza (root in ``jabber:client``, written without ``xmlns``) or element.

    ``indent`` pretty-prints (for people; leave it out on the wire). Each payload
    element's text is computed once and reused by every fork that shares it.

    >>> serialize(parse_stanza("<message to='a@b' id='1'><body>x &amp; y</body></message>"))
    '<message to="a@b" id="1"><body>x &amp; y</body></message>'
    """
    if isinstance(obj, Element):
        out: list[str] = []
        _write(obj, CLIENT_NS, out, indent, 0)
        return "".join(out)
    head = [f"<{obj.kind}"]
    if obj.from_ is not None:
        head.append(_address("from", obj.from_))
    if obj.to is not None:
        head.append(_address("to", obj.to))
    if obj.type is not None:
        head.append(_attribute("type", obj.type))
    if obj.id is not None:
        head.append(_attribute("id", obj.id))
    if obj.attrs:
        head.append(_root_attributes(obj.attrs))
    if not obj.children:
        head.append("/>")
        return "".join(head)
    head.append(">")
    if indent is None:
        head.append(_payload(obj.children))
    else:
        for child in obj.children:
            head.append("\n" + indent)
            _write(child, CLIENT_NS, head, indent, 1)
        head.append("\n")
    head.append(f"</{obj.kind}>")
    return "".join(head)
