"""The XML edge: parse_stanza and serialize, including hostile input (RFC 6120 §4, §8)."""

from __future__ import annotations

import pytest

from minimix_core import JID, Element, Stanza, StanzaParseError, _xml, parse_stanza, serialize
from minimix_core._stanza import element_size, payload_size


def test_parse_reads_routing_attributes_and_payload() -> None:
    """RFC 6120 §8.1: kind, type, from, to, id; other attributes and children kept."""
    s = parse_stanza(
        "<message xmlns='jabber:client' from='a@b/c' to='room@muc' type='groupchat' id='1' "
        "xml:lang='en'><body>hi</body><x xmlns='urn:x' k='v'><y/></x></message>"
    )
    assert s == Stanza(
        "message",
        type="groupchat",
        from_=JID.parse("a@b/c"),
        to=JID.parse("room@muc"),
        id="1",
        attrs=(("{http://www.w3.org/XML/1998/namespace}lang", "en"),),
        children=(
            Element("{jabber:client}body", text="hi"),
            Element("{urn:x}x", (("k", "v"),), (Element("{urn:x}y"),)),
        ),
    )
    assert s.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert s.get("nope") is None


@pytest.mark.parametrize("ns", ["", "jabber:client", "jabber:server", "jabber:component:accept"])
def test_stream_namespaces_all_read_as_jabber_client(ns: str) -> None:
    """RFC 6120 §4.8.3, XEP-0114: the same stanza whatever stream it came on."""
    decl = f" xmlns='{ns}'" if ns else ""
    s = parse_stanza(f"<presence{decl}><show>away</show></presence>")
    assert s.children == (Element("{jabber:client}show", text="away"),)


def test_pretty_printed_and_compact_xml_parse_to_the_same_value() -> None:
    """Whitespace between elements is formatting; text of leaf elements is kept exactly."""
    pretty = parse_stanza(
        "<message>\n  <body> two  spaces </body>\n  <x xmlns='u'>\n    <y/>\n  </x>\n</message>"
    )
    compact = parse_stanza("<message><body> two  spaces </body><x xmlns='u'><y/></x></message>")
    assert pretty == compact
    assert pretty.find("body") == Element("{jabber:client}body", text=" two  spaces ")


def test_mixed_content_keeps_text_and_tails() -> None:
    """XHTML-IM style mixed content round-trips."""
    text = "<message><html xmlns='h'><p>a <b>bold</b> move</p></html></message>"
    assert serialize(parse_stanza(text)) == text.replace("'", '"')


def test_carriage_returns_in_text_and_tails_are_written_as_references() -> None:
    """A CR the sender escaped is character data: written raw, a parser reads it as LF."""
    text = "<message><body>a&#13;b&#13;&#10;c</body><x xmlns='urn:x'><y/>t&#13;</x></message>"
    parsed = parse_stanza(text)
    body = parsed.find("body")
    assert body is not None and body.text == "a\rb\r\nc"
    written = serialize(parsed)
    assert written == text.replace("'", '"').replace("&#10;", "\n")
    assert parse_stanza(written) == parsed


def test_serialize_round_trip_declares_namespaces_once() -> None:
    """Children in jabber:client carry no xmlns; other namespaces are declared where they start."""
    text = (
        '<message from="a@b/c" to="d@e" type="chat" id="i" xml:lang="en"><body>x &amp; &lt;y&gt;</body>'
        '<x xmlns="urn:x" attr="&quot;q&quot;&#10;"><y/><body xmlns="jabber:client">z</body></x></message>'
    )
    assert serialize(parse_stanza(text)) == text


def test_serialize_namespaced_attributes_and_bare_elements() -> None:
    """Foreign-namespace attributes get a declared prefix."""
    el = Element("{urn:x}x", (("{urn:a}k", "v"), ("{urn:b}k", "w")), (Element("plain"),))
    assert serialize(el) == (
        '<x xmlns="urn:x" xmlns:a0="urn:a" a0:k="v" xmlns:a1="urn:b" a1:k="w"><plain xmlns=""/></x>'
    )


def test_serialize_pretty_for_people() -> None:
    """indent= is for people: children on their own lines, text left alone."""
    s = parse_stanza(
        "<presence to='r@m/n'><x xmlns='u'><item a='1'/><status>ok</status></x></presence>"
    )
    assert serialize(s, indent="  ") == (
        '<presence to="r@m/n">\n  <x xmlns="u">\n    <item a="1"/>\n    <status>ok</status>\n  </x>\n</presence>'
    )
    assert serialize(parse_stanza("<iq type='get'/>"), indent="  ") == '<iq type="get"/>'


def test_forks_share_the_serialized_payload() -> None:
    """A payload is serialized once, and a fork's text is its original's with another ``to``."""
    s = parse_stanza("<message to='a@b' type='chat'><body>fork me</body></message>")
    before = _xml._payload.cache_info().misses
    first = serialize(s.with_to(JID.parse("a@b/1")))
    second = serialize(s.with_to(JID.parse("a@b/2")))
    assert first == '<message to="a@b/1" type="chat"><body>fork me</body></message>'
    assert second == '<message to="a@b/2" type="chat"><body>fork me</body></message>'
    assert _xml._payload.cache_info().misses == before + 1
    assert _xml._FORKS[id(s.children)][1:] == (
        "<message",
        ' type="chat"><body>fork me</body></message>',
    )
    assert serialize(s.replace(to=None)) == '<message type="chat"><body>fork me</body></message>'


def test_a_stanza_sharing_only_the_payload_is_written_whole() -> None:
    """The fork memo matches a fork of the same original only, never a look-alike."""
    s = parse_stanza("<message from='r@m/a' id='1'><body>same</body></message>")
    assert serialize(s) == '<message from="r@m/a" id="1"><body>same</body></message>'
    other = s.with_from(JID.parse("r@m/b"))
    assert serialize(other) == '<message from="r@m/b" id="1"><body>same</body></message>'
    for changed in (s.replace(id="2"), s.replace(type="chat"), s.replace(kind="presence")):
        assert serialize(changed) == serialize(parse_stanza(serialize(changed)))
    assert serialize(s.replace(attrs=(("k", "v"),))).endswith(' k="v"><body>same</body></message>')


def test_the_fork_memo_is_bounded() -> None:
    for n in range(_xml._MAX_FORKS + 10):
        serialize(
            Stanza("message", id=str(n), children=(Element("{jabber:client}body", text="x"),))
        )
    assert len(_xml._FORKS) <= _xml._MAX_FORKS
    fork = parse_stanza("<message><body>x</body></message>")
    for n in range(_xml._MAX_FORKS + 10):
        to = JID("u", "example.org", f"r&{n}")
        assert (
            serialize(fork.with_to(to))
            == f'<message to="u@example.org/r&amp;{n}"><body>x</body></message>'
        )
    assert len(_xml._TO) <= _xml._MAX_FORKS


HOSTILE: dict[str, tuple[str | bytes, str]] = {
    "billion laughs": (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<message><body>&lol2;</body></message>",
        "DTDs, entities and external references are not allowed",
    ),
    "external entity": (
        '<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><message><body>&xxe;</body></message>',
        "DTDs, entities and external references are not allowed",
    ),
    "plain doctype": (
        "<!DOCTYPE message><message/>",
        "DTDs, entities and external references are not allowed",
    ),
    "malformed": ("<message><body></message>", "malformed XML"),
    "not xml": ("hello", "malformed XML"),
    "empty": ("", "malformed XML"),
    "invalid utf-8": (b"<message><body>\xff\xfe</body></message>", "malformed XML"),
    "not a stanza": (
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>",
        "is not a stanza",
    ),
    "foreign root": ("<message xmlns='urn:other'/>", "is not a stanza"),
    "bad jid": ("<message to='a@b@c'/>", "bad address"),
    "empty resource": ("<message from='a@b/'/>", "bad address"),
    "too deep": ("<message>" + "<a>" * 40 + "</a>" * 40 + "</message>", "nested deeper than 32"),
    "too big": ("<message><body>" + "x" * 300_000 + "</body></message>", "over the bound"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_or_broken_input_raises_one_typed_error(name: str) -> None:
    """defusedxml refuses DTDs and entities; size and depth are bounded first."""
    data, message = HOSTILE[name]
    with pytest.raises(StanzaParseError, match=message):
        parse_stanza(data)


def test_entity_declaration_in_internal_subset_refused_even_if_dtd_allowed() -> None:
    """The parse never expands entities: quadratic blow-up is refused too."""
    blowup = (
        '<!DOCTYPE m [<!ENTITY a "'
        + "x" * 1000
        + '">]><message><body>'
        + "&a;" * 100
        + "</body></message>"
    )
    with pytest.raises(StanzaParseError):
        parse_stanza(blowup)


def test_bounds_are_adjustable() -> None:
    """max_bytes and max_depth are keyword arguments."""
    with pytest.raises(StanzaParseError, match="over the bound of 10"):
        parse_stanza("<message><body>long enough</body></message>", max_bytes=10)
    with pytest.raises(StanzaParseError, match="deeper than 2"):
        parse_stanza("<message><a><b><c/></b></a></message>", max_depth=2)
    assert parse_stanza(b"<message><a><b/></a></message>", max_depth=3).kind == "message"


def test_element_helpers() -> None:
    """Element.get/find/findall/namespace/name/replace."""
    el = Element(
        "{urn:x}x", (("k", "v"),), (Element("{urn:x}y"), Element("{jabber:client}body", text="t"))
    )
    assert (el.namespace, el.name) == ("urn:x", "x")
    assert Element("plain").namespace == ""
    assert el.get("k") == "v"
    assert el.get("missing") is None
    assert el.get("missing", "d") == "d"
    assert el.find("body") == Element("{jabber:client}body", text="t")
    assert el.find("{urn:x}z") is None
    assert list(el.findall("{urn:x}y")) == [Element("{urn:x}y")]
    assert el.replace(text="new").text == "new"
    assert hash(el) == hash(Element("{urn:x}x", (("k", "v"),), el.children))


def test_stanza_helpers() -> None:
    """Stanza.find/findall/with_from/replace never mutate."""
    s = parse_stanza("<message to='a@b'><body>1</body><body>2</body></message>")
    assert [b.text for b in s.findall("body")] == ["1", "2"]
    assert s.find("subject") is None
    moved = s.with_from(JID.parse("c@d"))
    assert moved.children is s.children
    assert s.from_ is None
    assert s.replace(id="x").id == "x"
    with pytest.raises(AttributeError):
        s.id = "y"  # type: ignore[misc]


def test_a_changed_copy_never_reuses_the_originals_serialized_text() -> None:
    """The serialization memo belongs to one element: replace() starts a fresh one."""
    body = Element("{jabber:client}body", text="old")
    stanza = Stanza("message", children=(body,))
    assert serialize(stanza) == "<message><body>old</body></message>"
    changed = stanza.replace(children=(body.replace(text="new"),))
    assert serialize(changed) == "<message><body>new</body></message>"


def test_the_name_caches_are_bounded() -> None:
    """Element and attribute names come from remote input: their caches do not grow past a bound."""
    for n in range(0, 5000, 500):
        children = "".join(f"<e{m} a{m}='v'/>" for m in range(n, n + 500))
        parse_stanza(f"<message>{children}</message>")
    assert 0 < len(_xml._NAMES) <= _xml._MAX_NAMES
    assert 0 < len(_xml._ATTRIBUTE_NAMES) <= _xml._MAX_NAMES


def test_parsed_sizes_equal_the_sizes_of_the_same_values_built_by_hand() -> None:
    """The parser's size memos are what ``element_size`` computes for equal new values."""
    text = (
        "<message><body>a<b>x</b> tail <c/>more</body> <x xmlns='urn:a' xml:lang='en'>"
        "<y xmlns='urn:b' k='1'/></x></message>"
    )
    parsed = parse_stanza(text).children

    def rebuilt(el: Element) -> Element:
        return Element(el.tag, el.attrs, tuple(rebuilt(c) for c in el.children), el.text, el.tail)

    fresh = tuple(rebuilt(el) for el in parsed)
    assert parsed == fresh
    assert [element_size(el) for el in parsed] == [element_size(el) for el in fresh]
    assert payload_size(parsed) == payload_size(fresh) == 135
