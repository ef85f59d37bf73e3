"""Read the Prosody 0.12 transcripts in ``tests/fixtures/prosody-0.12`` into typed entries.

The format (see that folder's README): a header line
``>>> [CONNECTION to-server] 0.106s`` or ``<<< [CONNECTION from-server] 0.107s``, then
one pretty-printed XML element up to the next blank line; ``# `` lines are notes.
CONNECTION is ``component users.localhost`` or ``c2s bob@localhost/lab``.

Stanzas (``message``, ``presence``, ``iq``) become :class:`StanzaEntry` values. A client
closing its own stream (``</stream:stream>`` sent to the server) becomes a
:class:`StreamClosed` entry, because the user's server acts on it (it leaves the rooms
for the client). Every other element is stream plumbing and is skipped by its root name:
stream headers, the server's closing tag, the component handshake, stream features and
SASL. An element of any other name is an error, so a new kind of entry cannot slip by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from minimix_core import JID, Stanza, parse_stanza

FIXTURES: Final = Path(__file__).parent / "fixtures" / "prosody-0.12"

Direction = Literal["to-server", "from-server"]

_HEADER: Final = re.compile(
    r"^(?P<arrow>>>>|<<<) \[(?P<connection>.+) (?P<direction>to-server|from-server)\]"
    r"\s+(?P<time>\d+(?:\.\d+)?)s$"
)
_ROOT: Final = re.compile(r"^<(?P<closing>/?)(?P<name>[\w:.-]+)")
_STANZAS: Final = frozenset({"message", "presence", "iq"})
_PLUMBING: Final = frozenset(
    {"stream:stream", "handshake", "features", "auth", "success", "failure", "challenge"}
)


@dataclass(frozen=True)
class StanzaEntry:
    """One stanza of a transcript, as sent or received on one connection."""

    line: int
    direction: Direction
    connection: str
    time: float
    stanza: Stanza

    @property
    def routed(self) -> Stanza:
        """The stanza as the server routes it: a c2s client's own ``from`` filled in."""
        if self.direction == "to-server" and self.stanza.from_ is None:
            return self.stanza.with_from(connection_jid(self.connection))
        return self.stanza


@dataclass(frozen=True)
class StreamClosed:
    """A connection closed its stream (``</stream:stream>`` sent to the server)."""

    line: int
    connection: str
    time: float


Entry = StanzaEntry | StreamClosed


def connection_jid(connection: str) -> JID:
    """The JID of a connection name: ``c2s bob@localhost/lab`` -> ``bob@localhost/lab``."""
    return JID.parse(connection.split(" ", 1)[1])


def parse_transcript(text: str) -> list[Entry]:
    """The entries of a transcript, in file order."""
    entries: list[Entry] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        header = _HEADER.match(lines[index])
        index += 1
        if header is None:
            continue  # notes, blank lines
        start = index
        while index < len(lines) and lines[index].strip():
            index += 1
        body = "\n".join(lines[start:index])
        entry = _entry(start, header, body)
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(line: int, header: re.Match[str], body: str) -> Entry | None:
    root = _ROOT.match(body)
    if root is None:
        raise ValueError(f"line {line}: no element after the header")
    name = root["name"]
    direction: Direction = "to-server" if header["direction"] == "to-server" else "from-server"
    connection, time = header["connection"], float(header["time"])
    if name in _STANZAS:
        stanza = parse_stanza(body)
        return StanzaEntry(line, direction, connection, time, stanza)
    if name not in _PLUMBING:
        raise ValueError(f"line {line}: unexpected element <{name}>")
    if name == "stream:stream" and root["closing"] and direction == "to-server":
        return StreamClosed(line, connection, time)
    return None


def load(name: str) -> list[Entry]:
    """The entries of ``tests/fixtures/prosody-0.12/NAME``."""
    return parse_transcript((FIXTURES / name).read_text(encoding="utf-8"))
