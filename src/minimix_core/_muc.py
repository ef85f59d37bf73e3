"""XEP-0045 vocabulary: namespaces, status codes, and small readers and builders."""

from __future__ import annotations

from typing import Final

from ._jid import JID
from ._stanza import CLIENT_NS, Element, Stanza

__all__ = [
    "MUC",
    "MUC_USER",
    "STANZAS",
    "error_condition",
    "error_stanza",
    "error_type",
    "is_subject",
    "status_code",
    "status_codes",
]

MUC: Final = "http://jabber.org/protocol/muc"
MUC_USER: Final = "http://jabber.org/protocol/muc#user"
STANZAS: Final = "urn:ietf:params:xml:ns:xmpp-stanzas"
CAPS: Final = "http://jabber.org/protocol/caps"
OCCUPANT_ID: Final = "urn:xmpp:occupant-id:0"
PING: Final = "urn:xmpp:ping"
MAM: Final = "urn:xmpp:mam:2"
CARBONS: Final = "urn:xmpp:carbons:2"
FORWARD: Final = "urn:xmpp:forward:0"
HINTS: Final = "urn:xmpp:hints"
NO_COPY: Final = f"{{{HINTS}}}no-copy"
DELAY: Final = "{urn:xmpp:delay}delay"
STANZA_ID: Final = "{urn:xmpp:sid:0}stanza-id"
OCCUPANT_ID_TAG: Final = f"{{{OCCUPANT_ID}}}occupant-id"

MUC_X: Final = f"{{{MUC}}}x"
USER_X: Final = f"{{{MUC_USER}}}x"
STATUS: Final = f"{{{MUC_USER}}}status"
ITEM: Final = f"{{{MUC_USER}}}item"
DESTROY: Final = f"{{{MUC_USER}}}destroy"
CAPS_C: Final = f"{{{CAPS}}}c"
ERROR: Final = f"{{{CLIENT_NS}}}error"
STATUS_TEXT: Final = f"{{{CLIENT_NS}}}status"

NOT_CONNECTED_TEXT: Final = "You are not currently connected to this chat"
"""Prosody's text for ``not-acceptable`` to a non-occupant; mimicked for transparency."""
NOT_IN_ROOM_TEXT: Final = "Recipient not in room"
"""Prosody's text for ``item-not-found`` to a nick nobody has."""

# Status codes that describe the room to a new occupant (XEP-0045 §7.2.3, §7.2.12).
ROOM_FLAG_CODES: Final = frozenset({100, 170})
# Config-change codes (§10.2.1): code -> (flag, on?).
FLAG_CHANGES: Final = {
    170: (170, True),
    171: (170, False),
    172: (100, True),
    173: (100, False),
    174: (100, False),  # fully-anonymous: no occupant's real JID is shown either
}


def status_codes(stanza: Stanza) -> frozenset[int]:
    """The muc#user status codes the stanza carries (malformed codes are ignored)."""
    x = stanza.find(USER_X)
    if x is None:
        return frozenset()
    codes = (status_code(status) for status in x.findall(STATUS))
    return frozenset(code for code in codes if code is not None)


def status_code(status: Element) -> int | None:
    """The number of a ``<status code='…'/>`` element, or ``None`` when it is not one."""
    code = status.get("code", "")
    return int(code) if len(code) == 3 and code.isascii() and code.isdigit() else None


def is_subject(stanza: Stanza) -> bool:
    """A subject change or announcement: ``<subject/>`` with no body and no thread (§8.1)."""
    return (
        stanza.find("subject") is not None
        and stanza.find("body") is None
        and stanza.find("thread") is None
    )


def error_condition(stanza: Stanza) -> tuple[str | None, str | None]:
    """An error stanza's defined condition (``'conflict'``...) and its ``by``, if any."""
    error = stanza.find(ERROR)
    if error is None:
        return None, None
    for child in error.children:
        if child.namespace == STANZAS and child.name != "text":
            return child.name, error.get("by")
    return None, error.get("by")


def error_type(stanza: Stanza) -> str | None:
    """An error stanza's ``type`` (``cancel``, ``wait``, ``auth``...), if any (RFC 6120 §8.3.2)."""
    error = stanza.find(ERROR)
    return None if error is None else error.get("type")


def error_stanza(
    original: Stanza,
    *,
    from_: JID | None,
    to: JID,
    condition: str,
    error_type: str,
    text: str | None = None,
    by: JID | None = None,
) -> Stanza:
    """An error reply to ``original`` (RFC 6120 §8.3): same kind and id, new addresses."""
    error_attrs: tuple[tuple[str, str], ...] = (("type", error_type),)
    if by is not None:
        error_attrs += (("by", str(by)),)
    parts = [Element(f"{{{STANZAS}}}{condition}")]
    if text is not None:
        parts.append(Element(f"{{{STANZAS}}}text", text=text))
    error = Element(ERROR, error_attrs, tuple(parts))
    return Stanza(
        original.kind, type="error", from_=from_, to=to, id=original.id, children=(error,)
    )
