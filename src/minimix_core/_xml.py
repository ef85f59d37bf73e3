"""The XML edge: text in, :class:`Stanza` out, and back. Nothing else touches XML text.

Parsing goes through defusedxml, so entity declarations, DTDs and external references
are refused instead of expanded; size and depth are bounded before anything is built.
Every refusal is one exception type, :class:`StanzaParseError`, whose message says what
was wrong.
"""

from __future__ import annotations

from functools import lru_cache
from sys import intern
from typing import Any, Final
from xml.parsers.expat import ExpatError, ParserCreate

import defusedxml
import defusedxml.ElementTree

from ._jid import JID, InvalidJID
from ._stanza import CLIENT_NS, Element, Stanza, StanzaKind, make_element

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


# The parse is expat's, with defusedxml's own refusals installed: the handlers a
# DefusedXMLParser sets on its expat parser for DTDs, entity declarations and external
# references are taken from one and set on each parser made here. What defusedxml refuses
# is refused here, by defusedxml's code, with its exceptions.
_GUARD: Final = defusedxml.ElementTree.DefusedXMLParser(
    forbid_dtd=True, forbid_entities=True, forbid_external=True
)
_GUARD_HANDLERS: Final = tuple(
    (name, getattr(_GUARD.parser, name))
    for name in (
        "StartDoctypeDeclHandler",
        "EntityDeclHandler",
        "UnparsedEntityDeclHandler",
        "ExternalEntityRefHandler",
    )
    if getattr(_GUARD.parser, name, None) is not None
)

# Expat's name ("namespace}local" or "local") -> (Clark tag, namespace, the size of the
# element's two tags). The same few hundred names come in every stanza: each is worked
# out once and its strings interned. Bounded, as names come from remote input.
_Name = tuple[str, str, int]
_MAX_NAMES: Final = 4096
# Short attribute values are mostly a protocol's words (roles, codes, languages), the same
# in every stanza: one copy each. (Interned strings are freed like others when unused.)
_SHORT: Final = 16


_NAMES: dict[str, _Name] = {}
_ATTRIBUTE_NAMES: dict[str, str] = {}


def _name(raw: str) -> _Name:
    ns, _, local = raw.rpartition("}")
    if ns in _STREAM_NAMESPACES:
        ns = CLIENT_NS
    if len(_NAMES) >= _MAX_NAMES:
        _NAMES.clear()
    found = _NAMES[raw] = (intern(f"{{{ns}}}{local}"), intern(ns), 2 * len(local) + 5)
    return found


def _attribute_name(raw: str) -> str:
    if len(_ATTRIBUTE_NAMES) >= _MAX_NAMES:
        _ATTRIBUTE_NAMES.clear()
    found = _ATTRIBUTE_NAMES[raw] = intern("{" + raw if "}" in raw else raw)
    return found


def _with_tail(children: list[Element], tail: str) -> int:
    """Give the last child its tail (text after it inside its parent); return the growth."""
    last = children[-1]
    children[-1] = make_element(
        last.tag, last.attrs, last.children, last.text, tail, last._size + len(tail)
    )
    return len(tail)


def _build(data: bytes | str, max_depth: int) -> Stanza:
    """One pass of expat, with defusedxml's refusals, building the stanza's values.

    A frame per open element: ``[name, attributes, children, text, tail, size]`` where
    ``tail`` collects the text after its last child so far and ``size`` the sizes of its
    children (see :func:`element_size`), so nothing walks the tree a second time.
    """
    stack: list[list[Any]] = []
    roots: list[Stanza] = []
    names = _NAMES
    attribute_names = _ATTRIBUTE_NAMES

    def start(raw: str, attributes: list[str]) -> None:
        if stack:
            if len(stack) >= max_depth:
                raise StanzaParseError(f"nested deeper than {max_depth} elements")
            parent = stack[-1]
            tail = parent[4]
            if tail is not None:
                parent[4] = None
                if tail.strip():  # text between children that is not formatting
                    parent[5] += _with_tail(parent[2], tail)
        stack.append([names.get(raw) or _name(raw), attributes, [], None, None, 0])

    def characters(text: str) -> None:
        frame = stack[-1]
        if frame[2]:
            frame[4] = text if frame[4] is None else frame[4] + text
        else:
            frame[3] = text if frame[3] is None else frame[3] + text

    def end(raw: str) -> None:
        name, attributes, children, text, tail, size = stack.pop()
        if tail is not None and tail.strip():
            size += _with_tail(children, tail)
        if not stack:
            roots.append(_root(name, attributes, tuple(children)))
            return
        tag, ns, size_of_tags = name
        size += size_of_tags
        if text is not None:
            if children and not text.strip():
                text = None  # whitespace between child elements is formatting, not content
            else:
                size += len(text)
        attrs: tuple[tuple[str, str], ...] = ()
        if attributes:
            pairs = []
            for i in range(0, len(attributes), 2):
                key = attributes[i]
                value = attributes[i + 1]
                key = attribute_names.get(key) or _attribute_name(key)
                if len(value) <= _SHORT:
                    value = intern(value)
                pairs.append((key, value))
                size += len(key) + len(value) + 4
            attrs = tuple(pairs)
        parent = stack[-1]
        parent[2].append(make_element(tag, attrs, tuple(children), text, None, size))
        parent[5] += size if ns == parent[0][1] else size + len(ns) + 9

    parser = ParserCreate(None, "}")
    for handler_name, handler in _GUARD_HANDLERS:
        setattr(parser, handler_name, handler)
    parser.buffer_text = True
    parser.ordered_attributes = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.Parse(data, True)
    return roots[0]


def _root(name: _Name, attributes: list[str], children: tuple[Element, ...]) -> Stanza:
    tag, ns, _ = name
    kind = _KINDS.get(tag[len(CLIENT_NS) + 2 :]) if ns == CLIENT_NS else None
    if kind is None:
        written = tag[len(CLIENT_NS) + 2 :] if ns == CLIENT_NS else tag
        raise StanzaParseError(f"root element {written!r} is not a stanza")
    routing: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for i in range(0, len(attributes), 2):
        key, value = attributes[i], attributes[i + 1]
        if key in _ROUTING_ATTRS:
            routing[key] = value
        else:
            clark = _ATTRIBUTE_NAMES.get(key) or _attribute_name(key)
            extra.append((clark, intern(value) if len(value) <= _SHORT else value))
    try:
        from_ = JID.parse(routing["from"]) if "from" in routing else None
        to = JID.parse(routing["to"]) if "to" in routing else None
    except InvalidJID as exc:
        raise StanzaParseError(f"bad address: {exc}") from exc
    type_ = routing.get("type")
    if type_ is not None:
        type_ = intern(type_)
    return Stanza(kind, type_, from_, to, routing.get("id"), tuple(extra), children)


def parse_stanza(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_STANZA_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Stanza:
    """Parse one stanza (``<message/>``, ``<presence/>`` or ``<iq/>``) from XML text.

    A root without ``xmlns`` is taken to be in ``jabber:client``; ``jabber:server`` and
    ``jabber:component:accept`` are read as ``jabber:client`` too. Raises
    :class:`StanzaParseError` for anything else, never another exception. One pass of
    expat (with defusedxml's refusals) builds the values; the size of every element
    (what history bounds count) is worked out on the way.

    >>> s = parse_stanza("<message to='room@muc.example' type='groupchat'><body>hi</body></message>"
    ... )
    >>> s.kind, s.type, str(s.to), s.find("body").text
    ('message', 'groupchat', 'room@muc.example', 'hi')
    """
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise StanzaParseError(f"stanza of {size} bytes is over the bound of {max_bytes}")
    try:
        return _build(data, max_depth)
    except StanzaParseError:
        raise
    except defusedxml.DefusedXmlException as exc:
        # Entities and external references can only be declared in a DTD, so with DTDs
        # forbidden this is the one refusal; the other handlers are kept as a second wall.
        raise StanzaParseError("DTDs, entities and external references are not allowed") from exc
    except (ExpatError, ValueError) as exc:
        raise StanzaParseError(f"malformed XML: {exc}") from exc


def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:  # written raw, a parser would read it as a line feed (XML 1.0 §2.11)
        text = text.replace("\r", "&#13;")
    return text


def _escape_attr(value: str) -> str:
    value = _escape_text(value)
    if '"' in value:
        value = value.replace('"', "&quot;")
    for char, ref in (("\n", "&#10;"), ("\t", "&#9;")):
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


# A fork differs from its original only in ``to``: the text before and after it is written
# once per original and kept here. Keyed by the identity of the payload tuple; the entry
# holds the stanza (so the id cannot be reused while the entry lives) and every other
# field is compared by identity, which forks made by with_to() share with their original.
_FORKS: dict[int, tuple[Stanza, str, str]] = {}
_MAX_FORKS: Final = 1024
_TO: dict[JID, str] = {}
"""`` to="…"`` of the sessions written to lately: every fork needs one."""


def _stanza_text(obj: Stanza) -> str:
    memo = _FORKS.get(id(obj.children))
    if memo is None or not (
        (original := memo[0]).children is obj.children
        and original.from_ is obj.from_
        and original.id is obj.id
        and original.type is obj.type
        and original.attrs is obj.attrs
        and original.kind is obj.kind
    ):
        memo = _stanza_parts(obj)
        if len(_FORKS) >= _MAX_FORKS:
            _FORKS.clear()
        _FORKS[id(obj.children)] = memo
    to = obj.to
    if to is None:
        return memo[1] + memo[2]
    address = _TO.get(to)
    if address is None:
        if len(_TO) >= _MAX_FORKS:
            _TO.clear()
        address = _TO[to] = f' to="{_escape_attr(str(to))}"'
    return f"{memo[1]}{address}{memo[2]}"


def _start_tag(obj: Stanza) -> tuple[str, str]:
    """The stanza's start tag, unclosed, in two parts: before ``to`` and after it."""
    head = f"<{obj.kind}" if obj.from_ is None else f"<{obj.kind}{_address('from', obj.from_)}"
    tail: list[str] = []
    if obj.type is not None:
        tail.append(_attribute("type", obj.type))
    if obj.id is not None:
        tail.append(_attribute("id", obj.id))
    if obj.attrs:
        tail.append(_root_attributes(obj.attrs))
    return head, "".join(tail)


def _stanza_parts(obj: Stanza) -> tuple[Stanza, str, str]:
    """The stanza's text before ``to`` and after it."""
    head, tail = _start_tag(obj)
    if obj.children:
        return obj, head, f"{tail}>{_payload(obj.children)}</{obj.kind}>"
    return obj, head, f"{tail}/>"


def serialize(obj: Stanza | Element, *, indent: str | None = None) -> str:
    """XML text for a stanza (root in ``jabber:client``, written without ``xmlns``) or element.

    ``indent`` pretty-prints (for people; leave it out on the wire). Each payload
    element's text is computed once and reused by every fork that shares it.

    >>> serialize(parse_stanza("<message to='a@b' id='1'><body>x &amp; y</body></message>"))
    '<message to="a@b" id="1"><body>x &amp; y</body></message>'
    """
    if isinstance(obj, Stanza):
        if indent is None:  # every fork on the wire: the first test it meets
            return _stanza_text(obj)
    else:
        out: list[str] = []
        _write(obj, CLIENT_NS, out, indent, 0)
        return "".join(out)
    before, after = _start_tag(obj)
    head = [before]
    if obj.to is not None:
        head.append(_address("to", obj.to))
    head.append(after)
    if not obj.children:
        head.append("/>")
        return "".join(head)
    head.append(">")
    for child in obj.children:
        head.append("\n" + indent)
        _write(child, CLIENT_NS, head, indent, 1)
    head.append("\n")
    head.append(f"</{obj.kind}>")
    return "".join(head)
