"""A stanza kept small: its XML text, deflated against the words self-presences share.

The room's self-presence is the one stanza of an occupancy that differs for every account
(its nick, occupant-id and real JID), and it is read only when a session joins late or
the account rejoins. Parsed it takes about 1.5 KB; its text about 370 bytes; that text
deflated (RFC 1951) against a preset dictionary of what XEP-0045 self-presences have in
common, about 110 bytes. Only this process reads the bytes back: snapshots keep stanzas.
"""

from __future__ import annotations

import sys
import zlib
from functools import lru_cache
from typing import Final

from ._stanza import Stanza
from ._xml import StanzaParseError, parse_stanza, serialize

__all__ = ["pack", "unpack"]

# Deflate finds repeats of these in a short text as it would in a long one: XEP-0045
# §7.2.3 (muc#user item, 110 and the room flags), XEP-0421 (occupant-id), XEP-0115 (caps).
_WORDS: Final = (
    b'<presence from="" xml:lang="en"><c xmlns="http://jabber.org/protocol/caps" '
    b'hash="sha-1" node="" ver=""/><occupant-id xmlns="urn:xmpp:occupant-id:0" id=""/>'
    b'<x xmlns="http://jabber.org/protocol/muc#user"><item role="visitor" '
    b'affiliation="none" jid=""/><item role="participant" affiliation="member" jid=""/>'
    b'<item role="moderator" affiliation="owner" jid=""/><item affiliation="admin" '
    b'role="moderator"/><status code="100"/><status code="170"/><status code="210"/>'
    b'<status code="110"/></x></presence>'
)
_WINDOW: Final = -10
"""Raw deflate (no header: nothing else reads it) with a 1 KB window: the dictionary and
most self-presences fit, and each compressor costs 4 µs to make instead of 260 KB."""


def pack(stanza: Stanza) -> bytes | Stanza:
    """``stanza`` as deflated text, or itself when that text would not read back equal.

    A stanza a host made itself may not: a name XML does not allow, an element without a
    namespace, an empty text, whitespace between children.
    """
    text = serialize(stanza).encode("utf-8", "surrogatepass")
    packer = zlib.compressobj(9, zlib.DEFLATED, _WINDOW, 2, zlib.Z_DEFAULT_STRATEGY, _WORDS)
    packed = packer.compress(text) + packer.flush()
    try:
        # Also keeps it read: a session often joins late soon after the join.
        read_back = _unpacked(packed)
    except StanzaParseError:
        return stanza
    return packed if read_back == stanza else stanza


def unpack(kept: bytes | Stanza) -> Stanza:
    """What :func:`pack` kept, as a stanza; the last 1,024 read stay parsed."""
    return _unpacked(kept) if isinstance(kept, bytes) else kept


@lru_cache(maxsize=1024)
def _unpacked(packed: bytes) -> Stanza:
    text = zlib.decompressobj(_WINDOW, _WORDS).decompress(packed)
    # The text of a stanza that was accepted once: read back whatever its size and depth.
    return parse_stanza(text, max_bytes=sys.maxsize, max_depth=sys.maxsize)
