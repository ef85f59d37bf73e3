"""JIDs (RFC 7622): parsing, normalisation, comparison."""

from __future__ import annotations

import pytest

from minimix_core import JID, InvalidJID
from minimix_core._jid import names


def test_parts_and_normalisation() -> None:
    """RFC 7622 §3: domain and localpart compare case-insensitively, the resource does not."""
    jid = JID.parse("Alice@Example.ORG./Phone")
    assert (jid.local, jid.domain, jid.resource) == ("alice", "example.org", "Phone")
    assert jid == JID.parse("alice@example.org/Phone")
    assert jid != JID.parse("alice@example.org/phone")
    assert str(jid) == "alice@example.org/Phone"
    assert repr(jid) == "JID('alice@example.org/Phone')"


def test_bare_and_with_resource() -> None:
    """bare drops the resource; with_resource adds a nick to a room."""
    room = JID.parse("lounge@muc.example.net")
    assert room.bare is room
    assert room.is_bare
    occupant = room.with_resource("bob")
    assert str(occupant) == "lounge@muc.example.net/bob"
    assert not occupant.is_bare
    assert occupant.bare == room


def test_domain_only_and_resource_with_slashes_and_at() -> None:
    """The resource is everything after the first slash (RFC 7622 §3.1)."""
    assert str(JID.parse("muc.example.net")) == "muc.example.net"
    jid = JID.parse("room@muc/nick/with@odd")
    assert jid.resource == "nick/with@odd"
    assert JID.parse("muc.example.net/x").local is None


def test_unicode_is_nfc_normalised() -> None:
    """RFC 7622 §3.3, §3.4: NFC for localpart and resource."""
    decomposed = "cafe\u0301"
    assert JID.parse(f"{decomposed}@x/{decomposed}") == JID.parse("caf\u00e9@x/caf\u00e9")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "@x",
        "a@",
        "a@b/",
        "a b@x",
        "a@b c",
        "a@@b",
        "a@b@c",
        "x/" + "r" * 1024,
        "a\x00@b",
        "a@b/\x07",
    ],
)
def test_invalid_jids_raise(text: str) -> None:
    """Empty parts, forbidden characters, over-long parts, control characters."""
    with pytest.raises(InvalidJID):
        JID.parse(text)


def test_hashable_and_usable_as_key() -> None:
    """JIDs key the router's tables."""
    table = {JID.parse("A@B/c"): 1}
    assert table[JID.parse("a@b/c")] == 1


def test_every_full_jid_of_an_address_has_one_bare_jid() -> None:
    """All of a room's occupant JIDs, and the room's own, give one value to keep."""
    alice = JID.parse("lounge@muc.example.net/alice")
    bob = JID.parse("lounge@muc.example.net/bob")
    room = JID.parse("lounge@muc.example.net")
    assert alice.bare is bob.bare is room
    assert JID("lounge", "muc.example.net", "carol").bare is room
    assert room == JID("lounge", "muc.example.net")


@pytest.mark.parametrize(
    "text", ["\u0386\u0345@d", "\u03aa\u0301@d", "\u1fba\u0345@d", "a@x..", "a@x.example.."]
)
def test_a_jid_written_out_parses_as_itself(text: str) -> None:
    """RFC 7622 §3.2-3.3 (RFC 8265 §3.3: case mapping, then NFC): what the router writes
    for a JID (a room's stanza-id ``by``, its keep-alive ``by``) names that same JID."""
    try:
        jid = JID.parse(text)
    except InvalidJID:
        return
    assert JID.parse(str(jid)) == jid


def test_a_domain_s_a_labels_are_its_u_labels() -> None:
    """RFC 7622 §3.2 and IDNA2008 §3.1: a JID holds U-labels, and a label written as its
    A-label (``xn--``) is the same label: a room's stanza-id or error ``by`` in either form
    names the room. What does not decode to a non-ASCII label stays as written."""
    room = JID.parse("lounge@b\u00fccher.example")
    assert JID.parse("lounge@xn--bcher-kva.example") == room
    assert JID.parse("Lounge@XN--BCHER-KVA.Example./bob") == room.with_resource("bob")
    assert names("lounge@xn--bcher-kva.example", room)
    assert str(JID.parse("lounge@xn--bcher-kva.example")) == "lounge@b\u00fccher.example"
    for kept in (
        "a@xn--zz.example",
        "a@xn--.example",
        "a@xn--abc-.example",
        "a@xn--x\u00e9.example",
    ):
        assert str(JID.parse(kept)) == kept


def test_a_domain_is_nfc_normalised() -> None:
    """RFC 7622 §3.2: a domainpart's U-labels are NFC; either form is the same address."""
    assert JID.parse("Room@Mu\u0308c.Example") == JID.parse("room@m\u00fcc.example")


def test_a_label_that_names_no_u_label_stays_as_written() -> None:
    """An ``xn--`` label whose decoding is no U-label stays as written, so the JID still
    writes itself out as the text it came from: one that lower-cases to ASCII (a KELVIN SIGN
    that would make it another A-label, naming b\u00fccher), one holding a lone surrogate (no
    UTF-8 could write it), one holding a control or space character (the domain would be
    refused), one whose U-labels would make the domain longer than a domain may be."""
    kelvin = "a@xn--xn--bcher-va-g02g.example"  # decodes to "xn--bcher-\u212ava"
    assert str(JID.parse(kelvin)) == kelvin
    assert JID.parse(kelvin) != JID.parse("a@b\u00fccher.example")
    for kept in (
        "a@xn--x-qc4g.example",  # "\ud800x"
        "a@xn--x-ka.example",  # "\x85x"
        "a@xn--x-3ba.example",  # "\xa0x"
        "a@" + ".".join(["xn--" + ("\u00e9" * 59).encode("punycode").decode()] * 15),
    ):
        jid = JID.parse(kept)
        assert str(jid) == kept
        assert JID.parse(str(jid)) == jid
        str(jid).encode("utf-8")
