"""XMPP addresses (RFC 7622), kept small: parse, normalise, compare."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import NamedTuple

__all__ = ["JID", "InvalidJID", "jid_text", "names"]

# RFC 7622 §3.3.1: characters a localpart may not contain.
_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@ \t\r\n")
# Each part is at most 1023 octets (RFC 7622 §3.2, §3.3, §3.4).
_MAX_PART_OCTETS = 1023


class InvalidJID(ValueError):
    """A string is not a valid JID; the message says which part is wrong."""


def _octets(part: str) -> int:
    return len(part.encode("utf-8", "surrogatepass"))


def _check_part(part: str, what: str) -> None:
    if not part:
        raise InvalidJID(f"empty {what}")
    if _octets(part) > _MAX_PART_OCTETS:
        raise InvalidJID(f"{what} longer than {_MAX_PART_OCTETS} octets")
    if not part.isprintable() and any(unicodedata.category(c) == "Cc" for c in part):
        raise InvalidJID(f"control character in {what}")


class JID(NamedTuple):
    """An XMPP address: ``local@domain/resource``, immutable and hashable.

    Parse with :meth:`JID.parse`, which normalises the parts: the domain is lower-cased and
    NFC-normalised (and a trailing dot removed), the localpart too (it compares
    case-insensitively), the resource is NFC-normalised and keeps its case.
    Two JIDs are equal when their normalised parts are equal. A named tuple: JIDs key
    every table of the router, and a tuple's hash and equality run in C.

    >>> JID.parse("Alice@Example.org/Phone")
    JID('alice@example.org/Phone')
    >>> JID.parse("alice@example.org/phone").bare
    JID('alice@example.org')
    """

    local: str | None
    """The part before ``@``, or ``None`` (a server or service address)."""
    domain: str
    """The domain part, lower-case."""
    resource: str | None = None
    """The part after ``/``: a session's resource or an occupant's nickname."""

    @classmethod
    def parse(cls, text: str) -> JID:
        """Parse and normalise a JID; raise :class:`InvalidJID` if it is not one."""
        return _parse_cached(text)

    @staticmethod
    def _parse(text: str) -> JID:
        rest, slash, resource_part = text.partition("/")
        resource: str | None = None
        if slash:
            resource = unicodedata.normalize("NFC", resource_part)
            _check_part(resource, "resource")
        local: str | None = None
        if "@" in rest:
            local_part, _, rest = rest.partition("@")
            # RFC 8265 §3.3.3: case mapping, then NFC (lower case can undo NFC's work).
            local = unicodedata.normalize("NFC", local_part.lower())
            _check_part(local, "localpart")
            if not _LOCAL_FORBIDDEN.isdisjoint(local):
                raise InvalidJID("forbidden character in localpart")
        domain = unicodedata.normalize("NFC", rest.lower())  # U-labels are NFC (RFC 5891)
        if "xn--" in domain:
            domain = _u_labels(domain)
        if domain.endswith("."):
            domain = domain[:-1]
            if domain.endswith("."):
                # One trailing dot goes (RFC 7622 §3.2); another would be an empty label, and
                # the text the JID writes would name another domain.
                raise InvalidJID("empty label in domain")
        _check_part(domain, "domain")
        if "@" in domain or any(c.isspace() for c in domain):
            raise InvalidJID("forbidden character in domain")
        return _bare_of(local, domain) if resource is None else JID(local, domain, resource)

    @property
    def bare(self) -> JID:
        """The address without its resource."""
        if self.resource is None:
            return self
        return _bare_cached(self)

    @property
    def is_bare(self) -> bool:
        """True when there is no resource."""
        return self.resource is None

    @staticmethod
    def is_resource(text: str) -> bool:
        """Whether ``text`` can be a JID's resource (a room nick), RFC 7622 §3.4."""
        try:
            _check_part(unicodedata.normalize("NFC", text), "resource")
        except InvalidJID:
            return False
        return True

    def with_resource(self, resource: str) -> JID:
        """The same bare address with another resource (for example a room nick)."""
        return JID(self.local, self.domain, resource)

    def __str__(self) -> str:
        text = self.domain if self.local is None else f"{self.local}@{self.domain}"
        return text if self.resource is None else f"{text}/{self.resource}"

    def __repr__(self) -> str:
        return f"JID({str(self)!r})"


# Servers see the same few thousand addresses over and over: parsing and stripping them
# once each saves most of the work of every stanza (JIDs are immutable, so sharing is safe).
_parse_cached = lru_cache(maxsize=16384)(JID._parse)


def _u_labels(domain: str) -> str:
    """``domain`` with its A-labels (``xn--``) as U-labels, which a JID holds.

    RFC 7622 §3.2; IDNA2008 §3.1 compares labels in one form. A label that does not decode
    to a U-label stays as it is: it names no other domain either way. No U-label is ASCII
    (lower case can make it so, and an ``xn--`` one would decode again: the JID would not
    write itself out), holds a surrogate (no UTF-8 writes it), a control or a space character
    (the domain would be refused); and the domain stays as written if its U-labels would
    make it too long.
    """
    labels = domain.split(".")
    for i, label in enumerate(labels):
        if label.startswith("xn--"):
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                continue
            u_label = unicodedata.normalize("NFC", decoded.lower())
            if u_label.isascii() or any(
                c.isspace() or unicodedata.category(c) in ("Cc", "Cs") for c in u_label
            ):
                continue
            labels[i] = u_label
    decoded_domain = ".".join(labels)
    return domain if _octets(decoded_domain) > _MAX_PART_OCTETS else decoded_domain


def names(text: str | None, jid: JID) -> bool:
    """Whether ``text`` (an attribute from the network) is ``jid`` in any spelling.

    Local and domain parts compare case-insensitively (RFC 7622 §3.2, §3.3), as clients
    compare them; text that is no JID names nothing.
    """
    if text is None:
        return False
    try:
        return JID.parse(text) == jid
    except InvalidJID:
        return False


jid_text = lru_cache(maxsize=16384)(JID.__str__)
"""``str(jid)``, written once for each of the addresses a server sees over and over (a room
message's path writes its room's and its account's)."""


@lru_cache(maxsize=16384)
def _bare_cached(jid: JID) -> JID:
    return _bare_of(jid.local, jid.domain)


# One bare JID for every full JID of an address (all of a room's occupants): what keeps
# a room's JID (every local account in it, every cached presence) keeps one value.
@lru_cache(maxsize=16384)
def _bare_of(local: str | None, domain: str) -> JID:
    return JID(local, domain)
