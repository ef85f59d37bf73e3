"""Parts of the simulated MUC service: vocabulary, stanza builders and a room's records.

Used by :mod:`minimix_core.testing` only; nothing here belongs to the routing core. The
behaviour follows Prosody 0.12's ``mod_muc`` (see ``tests/fixtures/prosody-0.12``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final, cast

import attrs

from .._jid import JID
from .._muc import (
    DELAY,
    ERROR,
    ITEM,
    MUC,
    MUC_USER,
    OCCUPANT_ID_TAG,
    STANZA_ID,
    STANZAS,
    STATUS,
    error_stanza,
)
from .._stanza import CLIENT_NS, Element, Stanza
from .._xml import serialize

__all__ = [
    "ACTOR",
    "AFFILIATION_RANK",
    "BODY",
    "DELAY",
    "HISTORY",
    "KICKABLE",
    "LOCK_TIMEOUT",
    "OCCUPANT_ID_TAG",
    "PASSWORD",
    "REASON",
    "ROLE_RANK",
    "STANZA_ID",
    "SUBJECT",
    "Actor",
    "HistoryEntry",
    "Occupant",
    "Presence",
    "Refusal",
    "Tombstone",
    "delay",
    "element",
    "error_details",
    "error_reply",
    "filtered",
    "item",
    "occupant_id",
    "occupant_id_element",
    "recipient",
    "result",
    "select_history",
    "sender",
    "status",
]

ACTOR: Final = f"{{{MUC_USER}}}actor"
REASON: Final = f"{{{MUC_USER}}}reason"
HISTORY: Final = f"{{{MUC}}}history"
PASSWORD: Final = f"{{{MUC}}}password"
SUBJECT: Final = f"{{{CLIENT_NS}}}subject"
BODY: Final = f"{{{CLIENT_NS}}}body"
STANZA_TEXT: Final = f"{{{STANZAS}}}text"

ROLE_RANK: Final = {"none": 0, "visitor": 1, "participant": 2, "moderator": 3}
"""XEP-0045 §5.1 roles, ordered as Prosody's ``valid_roles``."""
AFFILIATION_RANK: Final = {"outcast": -1, "none": 0, "member": 1, "admin": 2, "owner": 3}
"""XEP-0045 §5.2 affiliations, ordered as Prosody's ``valid_affiliations``."""
KICKABLE: Final = frozenset(
    {
        "gone",
        "internal-server-error",
        "item-not-found",
        "jid-malformed",
        "recipient-unavailable",
        "redirect",
        "remote-server-not-found",
        "remote-server-timeout",
        "service-unavailable",
    }
)
"""Error conditions that make Prosody drop the sender (``muc/util.lib.lua``, finding 11)."""
LOCK_TIMEOUT: Final = 300.0
"""Seconds a new room stays locked without configuration (``muc_room_lock_timeout``)."""


@attrs.frozen
class Presence:
    """A presence an occupant session sent (or the room made up): what the room re-sends."""

    type: str | None = None
    id: str | None = None
    payload: tuple[Element, ...] = ()


@attrs.define(eq=False)
class Occupant:
    """One nick in the room and the real JIDs (sessions) behind it, in joining order."""

    nick: str
    bare: JID
    role: str
    occupant_id: str
    sessions: dict[JID, Presence] = attrs.Factory(dict)

    @property
    def primary(self) -> Presence:
        """The presence others see: Prosody shows the first session that is still there."""
        return next(iter(self.sessions.values()))

    @property
    def primary_jid(self) -> JID:
        """The session that receives IQs sent to the occupant (XEP-0045 §17.4)."""
        return next(iter(self.sessions))


@attrs.frozen
class Actor:
    """Who kicked or banned: shown as ``<actor nick jid/>``; the jid only to those who may."""

    nick: str | None
    jid: JID | None = None


@attrs.frozen
class Refusal:
    """A refused admin or owner request: the error the requester gets."""

    error_type: str
    condition: str


@attrs.frozen
class Tombstone:
    """What a destroyed persistent room leaves behind: joins get ``gone`` (finding 13)."""

    reason: str | None
    alternate: str | None

    def refuse(self, stanza: Stanza, service: JID) -> Stanza:
        """The ``gone`` error, with an ``xmpp:…?join`` URI when there is an alternate venue."""
        reply = error_reply(stanza, "gone", "cancel", text=self.reason, by=service)
        if self.alternate is None:
            return reply
        error = reply.children[0]
        gone = error.children[0].replace(text=f"xmpp:{self.alternate}?join")
        return reply.replace(children=(error.replace(children=(gone, *error.children[1:])),))


@attrs.frozen
class HistoryEntry:
    """A message kept for joiners: the broadcast form with its ``<delay/>``, and its size."""

    stanza: Stanza
    stamp: float
    chars: int

    @classmethod
    def of(cls, stanza: Stanza, room: JID, now: float) -> HistoryEntry:
        """Keep ``stanza`` as received at ``now``, stamped the way Prosody stamps history."""
        kept = stanza.replace(children=(*stanza.children, delay(room, now)))
        # maxchars counts the characters of the stanza as sent (XEP-0045 §7.2.14).
        return cls(kept, now, len(serialize(kept)))


def sender(stanza: Stanza) -> JID:
    """The ``from`` of a stanza the service accepted (``MUCService.receive`` checked it)."""
    return cast(JID, stanza.from_)


def recipient(stanza: Stanza) -> JID:
    """The ``to`` of a stanza the service accepted (``MUCService.receive`` checked it)."""
    return cast(JID, stanza.to)


def element(
    tag: str,
    attrs: Iterable[tuple[str, str | None]] = (),
    *children: Element,
    text: str | None = None,
) -> Element:
    """An element whose attributes with a ``None`` value are left out."""
    kept = tuple((name, value) for name, value in attrs if value is not None)
    return Element(tag, kept, children, text)


def status(code: int) -> Element:
    """``<status code='…'/>`` in muc#user."""
    return Element(STATUS, (("code", str(code)),))


def item(
    affiliation: str,
    role: str | None,
    *,
    jid: JID | None = None,
    nick: str | None = None,
    actor: Element | None = None,
    reason: str | None = None,
) -> Element:
    """A muc#user ``<item/>``; attribute order as Prosody writes them."""
    children = [] if actor is None else [actor]
    if reason is not None:
        children.append(Element(REASON, text=reason))
    attributes = (("role", role), ("affiliation", affiliation), ("nick", nick))
    return element(ITEM, (*attributes, ("jid", None if jid is None else str(jid))), *children)


def occupant_id(salt: str, bare: JID) -> str:
    """XEP-0421 id: base64 of an HMAC of the bare real JID, as Prosody computes it.

    Prosody salts with a random per-room value; the simulation salts with the room JID
    and its incarnation, so ids are stable across runs and change when a room is re-made.
    """
    digest = hmac.new(str(bare).encode(), salt.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def occupant_id_element(value: str) -> Element:
    """``<occupant-id xmlns='urn:xmpp:occupant-id:0' id='…'/>``."""
    return Element(OCCUPANT_ID_TAG, (("id", value),))


def stamp(now: float) -> str:
    """XEP-0082 DateTime in whole seconds, the form Prosody uses in ``<delay/>``."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str) -> float | None:
    """POSIX seconds of an XEP-0082 DateTime (UTC when no offset), ``None`` if malformed."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=when.tzinfo or UTC).timestamp()


def delay(room: JID, now: float) -> Element:
    """XEP-0203 ``<delay/>`` from the room (XEP-0045 §7.2.13)."""
    return element(DELAY, (("from", str(room)), ("stamp", stamp(now))))


def filtered(children: Iterable[Element]) -> tuple[Element, ...]:
    """A client's payload without muc/muc#user data or a forged occupant-id (§17.3 rule 6)."""
    return tuple(
        child
        for child in children
        if child.namespace not in (MUC, MUC_USER) and child.tag != OCCUPANT_ID_TAG
    )


def error_reply(
    stanza: Stanza,
    condition: str,
    error_type: str,
    *,
    text: str | None = None,
    by: JID | None = None,
) -> Stanza:
    """Prosody's ``st.error_reply``: from the address the stanza was sent to, same id."""
    return error_stanza(
        stanza,
        from_=stanza.to,
        to=sender(stanza),
        condition=condition,
        error_type=error_type,
        text=text,
        by=by,
    )


def error_details(stanza: Stanza) -> tuple[str | None, str | None]:
    """The defined condition and the ``<text/>`` of an error stanza (``None`` when absent)."""
    error = stanza.find(ERROR)
    children = () if error is None else error.children
    conditions = [c.name for c in children if c.namespace == STANZAS and c.tag != STANZA_TEXT]
    texts = [c.text for c in children if c.tag == STANZA_TEXT]
    return next(iter(conditions), None), next(iter(texts), None)


def result(stanza: Stanza, *children: Element) -> Stanza:
    """An IQ result answering ``stanza``."""
    return Stanza(
        "iq", type="result", from_=stanza.to, to=sender(stanza), id=stanza.id, children=children
    )


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdecimal() else None


def select_history(
    entries: Sequence[HistoryEntry], request: Element | None, default: int, now: float, to: JID
) -> list[Stanza]:
    """The history a joiner gets for its ``<history/>`` request (XEP-0045 §7.2.14).

    Prosody's algorithm: walk back from the newest message and stop at the first one that
    breaks a limit; with no limit given, the room's default number of messages.
    ``maxchars`` counts each stanza plus its ``to``, so ``maxchars='0'`` means none.
    """
    maxchars = maxstanzas = None
    since: float | None = None
    if request is not None:
        maxchars = _number(request.get("maxchars"))
        maxstanzas = _number(request.get("maxstanzas"))
        since = parse_stamp(request.get("since", ""))
        seconds = _number(request.get("seconds"))
        if seconds is not None:
            since = max(since or 0.0, now - seconds)
    if maxchars is None and maxstanzas is None and since is None:
        maxstanzas = default
    count = chars = 0
    for entry in reversed(entries):
        chars += entry.chars + len(str(to))
        if maxchars is not None and chars > maxchars:
            break
        if since is not None and since > entry.stamp:
            break
        if maxstanzas is not None and count >= maxstanzas:
            break
        count += 1
    return [entry.stanza.with_to(to) for entry in entries[len(entries) - count :]]
