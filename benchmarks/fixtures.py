"""Realistic stanzas for the benchmarks, read from the captured Prosody 0.12 transcripts.

The transcripts in ``tests/fixtures/prosody-0.12`` hold pretty-printed stanzas, each after
a ``>>>`` (sent) or ``<<<`` (received) header line and ended by a blank line. The
benchmarks take real stanzas from there (the groupchat message with ``occupant-id`` and
``stanza-id``, an occupant's presence, the self-presence, the subject, a join) and derive
every other stanza from them with a seeded random generator, so each run sees the same
data.
"""

from __future__ import annotations

import base64
import hashlib
import random
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from minimix_core import JID, Element, Stanza, StanzaParseError, parse_stanza, serialize

__all__ = [
    "FIXTURES",
    "Captured",
    "Corpus",
    "load_corpus",
    "read_transcript",
]

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "prosody-0.12"
"""Where the captured transcripts live."""

_OCCUPANT_ID = "{urn:xmpp:occupant-id:0}occupant-id"
_STANZA_ID = "{urn:xmpp:sid:0}stanza-id"
_MUC_X = "{http://jabber.org/protocol/muc}x"
_USER_X = "{http://jabber.org/protocol/muc#user}x"
_ITEM = "{http://jabber.org/protocol/muc#user}item"
_STATUS = "{http://jabber.org/protocol/muc#user}status"

_NICK_SYLLABLES = ("al", "be", "ca", "do", "el", "fi", "go", "ha", "ir", "jo", "ka", "lu", "mo")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@dataclass(frozen=True, slots=True)
class Captured:
    """One stanza of a transcript: its direction, connection, file and XML text."""

    received: bool
    """``True`` for ``<<<`` (the server sent it), ``False`` for ``>>>``."""
    connection: str
    """The bracketed connection label, for example ``component users.localhost from-server``."""
    source: str
    """The transcript's file name."""
    text: str
    """The stanza's XML text, dedented."""


def read_transcript(path: Path) -> Iterator[Captured]:
    """Every stanza of one transcript file, in order (stream closes are skipped)."""
    header: tuple[bool, str] | None = None
    lines: list[str] = []

    def flush() -> Iterator[Captured]:
        if header is not None and lines:
            text = textwrap.dedent("\n".join(lines)).strip()
            if not text.startswith("</stream"):
                yield Captured(header[0], header[1], path.name, text)

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith((">>>", "<<<")):
            yield from flush()
            label = line[3:].strip()
            connection = label[1 : label.index("]")] if label.startswith("[") else label
            header, lines = (line.startswith("<<<"), connection), []
        elif not line.strip() or line.startswith("#"):
            yield from flush()
            header, lines = None, []
        elif header is not None:
            lines.append(line)
    yield from flush()


def _parsed(captured: Captured) -> Stanza | None:
    try:
        return parse_stanza(captured.text)
    except StanzaParseError:
        return None


def _codes(stanza: Stanza) -> set[str]:
    x = stanza.find(_USER_X)
    return set() if x is None else {s.get("code", "") for s in x.findall(_STATUS)}


@dataclass(frozen=True, slots=True)
class Corpus:
    """The captured stanzas the benchmarks start from, and seeded variations of them.

    ``groupchat``, ``occupant``, ``self_presence`` and ``subject`` are stanzas a room sent
    to the account's bare JID; ``join`` is the account's join presence. Their ``text``
    twins are the exact bytes captured, for the parsing benchmark; ``config_form`` is the
    largest captured stanza (a room configuration form).
    """

    groupchat: Stanza
    groupchat_text: str
    occupant: Stanza
    occupant_text: str
    self_presence: Stanza
    subject: Stanza
    join: Stanza
    config_form_text: str
    room: JID

    def account(self, index: int) -> JID:
        """The bare JID of the ``index``-th local account."""
        return JID(f"user{index:06d}", "users.localhost")

    def session(self, account: JID, index: int) -> JID:
        """The full JID of one session of ``account``."""
        return account.with_resource(f"device-{index}")

    def room_jid(self, index: int) -> JID:
        """The bare JID of the ``index``-th room (room 0 is the captured one)."""
        if index == 0:
            return self.room
        return JID(f"room-{index:04d}", self.room.domain)

    def nicks(self, count: int, seed: int) -> list[str]:
        """``count`` distinct, seeded, nickname-like strings."""
        rng = random.Random(seed)
        out: dict[str, None] = {}
        while len(out) < count:
            name = "".join(rng.choice(_NICK_SYLLABLES) for _ in range(rng.randint(2, 4)))
            out[f"{name}{rng.randint(1, 999)}"] = None
        return list(out)

    def occupant_presences(self, room: JID, to: JID, count: int, seed: int) -> list[Stanza]:
        """``count`` presences of other occupants of ``room``, shaped like the captured one.

        Each has its own nick, real JID and ``occupant-id``; roles and affiliations are
        drawn from the seeded generator. The payload elements are new values per call.
        """
        rng = random.Random(seed)
        out = []
        for nick in self.nicks(count, seed):
            occupant_id = "".join(rng.choice(_B64) for _ in range(43)) + "="
            role, affiliation = rng.choice(
                (("participant", "none"), ("participant", "member"), ("moderator", "owner"))
            )
            real = f"{nick}@localhost/{rng.choice(('lab', 'phone', 'laptop', 'web'))}"
            children = []
            for child in self.occupant.children:
                # New Element values, not Element.replace(): replace() shares the
                # serialization memo of the captured element, so the copy would be written
                # out as the original once that was serialized.
                if child.tag == _OCCUPANT_ID:
                    children.append(Element(child.tag, (("id", occupant_id),)))
                elif child.tag == _USER_X:
                    item = Element(
                        _ITEM, (("role", role), ("affiliation", affiliation), ("jid", real))
                    )
                    children.append(Element(child.tag, child.attrs, (item,)))
                else:
                    children.append(child)
            out.append(
                self.occupant.replace(
                    from_=room.with_resource(nick), to=to, children=tuple(children)
                )
            )
        return out

    def reparsed(self, stanza: Stanza) -> Stanza:
        """``stanza`` written out and parsed again: fresh objects, as off the network."""
        return parse_stanza(serialize(stanza))

    def message_for(self, room: JID, to: JID, number: int = 0) -> Stanza:
        """The captured groupchat message as ``room`` sends it to the account ``to``.

        ``number`` makes it another message: its id and the room's stanza-id (XEP-0359)
        end in it, so the router, which takes each message once, sees a new one.
        """
        sender = self.groupchat.from_
        nick = sender.resource if sender is not None and sender.resource else "bob"
        message = self.groupchat.replace(from_=room.with_resource(nick), to=to)
        if not number:
            return message
        children = tuple(
            child.replace(
                attrs=tuple((k, f"{v}-{number}" if k == "id" else v) for k, v in child.attrs)
            )
            if child.tag == _STANZA_ID
            else child
            for child in message.children
        )
        return message.replace(id=f"{message.id}-{number}", children=children)

    def self_presence_for(self, room: JID, to: JID, nick: str) -> Stanza:
        """The captured self-presence (110) as ``room`` sends it to the account ``to``."""
        return self.self_presence.replace(from_=room.with_resource(nick), to=to)

    def own_self_presence_for(self, room: JID, to: JID, nick: str) -> Stanza:
        """The self-presence as ``room`` sends it to one account among many.

        Each occupant has its own nick, its own occupant-id (XEP-0421 §4) and, in the
        ``<item/>``, its own real JID: nothing of it is equal between two accounts but the
        status codes, the role and the affiliation.
        """
        stanza = self.self_presence_for(room, to, nick)
        # As long as Prosody's: a base64 SHA-256 (XEP-0421 §4).
        occupant_id = base64.b64encode(hashlib.sha256(f"{room}/{to}".encode()).digest()).decode()

        def own(element: Element) -> Element:
            if element.tag == "{urn:xmpp:occupant-id:0}occupant-id":
                return element.replace(attrs=(("id", occupant_id),))
            if element.tag == "{http://jabber.org/protocol/muc#user}item":
                attrs = ((k, str(to) if k == "jid" else v) for k, v in element.attrs)
                return element.replace(attrs=tuple(attrs))
            return element.replace(children=tuple(own(child) for child in element.children))

        return stanza.with_children(tuple(own(child) for child in stanza.children))

    def subject_for(self, room: JID, to: JID) -> Stanza:
        """The captured subject message as ``room`` sends it to the account ``to``."""
        sender = self.subject.from_
        nick = None if sender is None else sender.resource
        return self.subject.replace(from_=room if nick is None else room.with_resource(nick), to=to)

    def join_for(self, room: JID, nick: str, join_id: str) -> Stanza:
        """A session's join presence to ``room/nick`` (no ``from``: the server knows it)."""
        return self.join.replace(from_=None, to=room.with_resource(nick), id=join_id)


_PREFERRED = "b-second-join-groupchat.txt"


def _first(
    stanzas: list[tuple[Captured, Stanza]], what: str, check: Callable[[Stanza], bool]
) -> Captured:
    """The first match, from the second-join transcript if it has one, else from any."""
    matches = [captured for captured, stanza in stanzas if check(stanza)]
    for captured in matches:
        if captured.source == _PREFERRED:
            return captured
    if matches:
        return matches[0]
    raise LookupError(f"no captured {what} in {FIXTURES}")


def load_corpus(directory: Path = FIXTURES) -> Corpus:
    """Read the transcripts and pick the stanzas the benchmarks are built from."""
    to_account: list[tuple[Captured, Stanza]] = []
    from_account: list[tuple[Captured, Stanza]] = []
    largest = ""
    for path in sorted(directory.glob("*.txt")):
        for captured in read_transcript(path):
            stanza = _parsed(captured)
            if stanza is None:
                continue
            largest = max(largest, captured.text, key=len)
            if "component" not in captured.connection:
                continue
            (to_account if captured.received else from_account).append((captured, stanza))

    def groupchat(s: Stanza) -> bool:
        return (
            s.kind == "message"
            and s.type == "groupchat"
            and s.find("body") is not None
            and s.find(_OCCUPANT_ID) is not None
            and s.find(_STANZA_ID) is not None
            and s.from_ is not None
            and s.from_.resource != "alice"
        )

    def occupant(s: Stanza) -> bool:
        x = s.find(_USER_X)
        return (
            s.kind == "presence"
            and s.type is None
            and s.find(_OCCUPANT_ID) is not None
            and x is not None
            and x.find(_ITEM) is not None
            and not _codes(s)
        )

    def self_presence(s: Stanza) -> bool:
        return s.kind == "presence" and s.type is None and _codes(s) == {"110"}

    def subject(s: Stanza) -> bool:
        found = s.find("subject")
        return s.kind == "message" and found is not None and bool(found.text)

    def join(s: Stanza) -> bool:
        return s.kind == "presence" and s.type is None and s.find(_MUC_X) is not None

    message = _first(to_account, "groupchat message", groupchat)
    presence = _first(to_account, "occupant presence", occupant)
    message_stanza = parse_stanza(message.text)
    room = message_stanza.from_
    if room is None:
        raise LookupError("captured groupchat has no from")
    return Corpus(
        groupchat=message_stanza,
        groupchat_text=message.text,
        occupant=parse_stanza(presence.text),
        occupant_text=presence.text,
        self_presence=parse_stanza(_first(to_account, "self-presence", self_presence).text),
        subject=parse_stanza(_first(to_account, "subject", subject).text),
        join=parse_stanza(_first(from_account, "join", join).text),
        config_form_text=largest,
        room=room.bare,
    )
