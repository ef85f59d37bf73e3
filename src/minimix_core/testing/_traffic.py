"""Messages and IQs in a simulated MUC room, as Prosody 0.12 handles them.

Groupchat reflection, subject changes, private messages, error bounces that drop the
sender, admin and owner requests, disco#info, XEP-0410 self-ping and IQs forwarded
between occupants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Final

from .._jid import JID, InvalidJID
from .._muc import (
    HINTS,
    NOT_CONNECTED_TEXT,
    NOT_IN_ROOM_TEXT,
    OCCUPANT_ID,
    PING,
    USER_X,
    is_subject,
)
from .._stanza import Element, Stanza
from ._parts import (
    BODY,
    DELAY,
    KICKABLE,
    OCCUPANT_ID_TAG,
    STANZA_ID,
    Occupant,
    Refusal,
    element,
    error_details,
    error_reply,
    filtered,
    occupant_id_element,
    recipient,
    result,
    sender,
    status,
)
from ._room import Room

__all__ = ["DISCO_INFO", "iq", "message", "service_info"]

DISCO_INFO: Final = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS: Final = "http://jabber.org/protocol/disco#items"
MUC_ADMIN: Final = "http://jabber.org/protocol/muc#admin"
MUC_OWNER: Final = "http://jabber.org/protocol/muc#owner"
XDATA: Final = "jabber:x:data"
ROOMCONFIG: Final = "http://jabber.org/protocol/muc#roomconfig"
# vCard and PubSub requests go to the occupant's bare JID (Prosody, finding 9).
_TO_BARE: Final = frozenset(
    {"vcard-temp", "urn:ietf:params:xml:ns:vcard-4.0", "http://jabber.org/protocol/pubsub"}
)


def service_info() -> tuple[Element, ...]:
    """The disco#info payload of the service itself: a conference service (XEP-0045 §6.1)."""
    identity = element(f"{{{DISCO_INFO}}}identity", (("category", "conference"), ("type", "text")))
    return (identity, _feature("http://jabber.org/protocol/muc"), _feature(DISCO_INFO))


def _feature(var: str) -> Element:
    return Element(f"{{{DISCO_INFO}}}feature", (("var", var),))


def _kickable(stanza: Stanza) -> bool:
    condition, _ = error_details(stanza)
    return condition is None or condition in KICKABLE


# -- messages ----------------------------------------------------------------------------


def message(room: Room, stanza: Stanza, now: float) -> list[Stanza]:
    """A message to the room (groupchat, §7.4) or to an occupant (private, §7.5)."""
    nick = recipient(stanza).resource
    if nick is not None:
        return _private(room, stanza, nick)
    if stanza.type == "groupchat":
        return _groupchat(room, stanza, now)
    if stanza.type == "error":
        return room.kick_for_error(sender(stanza), stanza) if _kickable(stanza) else []
    # Mediated invitations, declines and voice requests are not simulated.
    return [error_reply(stanza, "service-unavailable", "cancel")]


def _groupchat(room: Room, stanza: Stanza, now: float) -> list[Stanza]:
    occ = room.occupant_of(sender(stanza))
    if stanza.id is None:
        # Prosody gives every groupchat an id (muc#stable_id); here a deterministic one.
        stanza = stanza.replace(id=f"{room.jid.local}-{room.next_id()}")
    if occ is None:
        text = NOT_CONNECTED_TEXT
        return [error_reply(stanza, "not-acceptable", "cancel", text=text)]
    if occ.role == "visitor":
        text = "You do not currently have permission to speak in this chat"
        return [error_reply(stanza, "forbidden", "auth", text=text)]
    if is_subject(stanza):
        if occ.role != "moderator" and not room.change_subject:
            text = "You are not allowed to change the subject"
            return [error_reply(stanza, "forbidden", "auth", text=text)]
        subject = stanza.find("subject")
        return room.set_subject(occ, None if subject is None else subject.text, now)
    room_jid = str(room.jid)
    kept = tuple(
        child
        for child in stanza.children
        if child.tag != OCCUPANT_ID_TAG
        and not (
            child.tag in (STANZA_ID, DELAY) and room_jid in (child.get("by"), child.get("from"))
        )
    )
    stanza_id = element(STANZA_ID, (("by", room_jid), ("id", f"{room.jid.local}-{room.next_id()}")))
    reflected = Stanza(
        "message",
        type="groupchat",
        from_=room.occupant_jid(occ.nick),
        id=stanza.id,
        attrs=stanza.attrs,
        children=(*kept, occupant_id_element(occ.occupant_id), stanza_id),
    )
    tags = {child.tag for child in kept}
    if room.history_length > 0 and _historic(tags):
        room.record(reflected, now)
    return room.broadcast(reflected)


def _historic(tags: set[str]) -> bool:
    # Prosody keeps messages with a body or a store hint, never no-store ones.
    if f"{{{HINTS}}}no-store" in tags or f"{{{HINTS}}}no-permanent-store" in tags:
        return False
    return BODY in tags or f"{{{HINTS}}}store" in tags


def _private(room: Room, stanza: Stanza, nick: str) -> list[Stanza]:
    real = sender(stanza)
    current = room.nick_of.get(real)
    if current is None:
        if stanza.type == "error":
            return []
        text = NOT_CONNECTED_TEXT
        return [error_reply(stanza, "not-acceptable", "cancel", text=text, by=room.jid)]
    if stanza.type == "groupchat":
        return [error_reply(stanza, "bad-request", "modify", by=room.jid)]
    if stanza.type == "error" and _kickable(stanza):
        return room.kick_for_error(real, stanza)
    target = room.occupants.get(nick)
    if target is None:
        return [error_reply(stanza, "item-not-found", "cancel", text=NOT_IN_ROOM_TEXT, by=room.jid)]
    if not room.allow_pm and target.bare != real.bare:
        text = "Private messages are restricted in this group"
        return [error_reply(stanza, "policy-violation", "cancel", text=text, by=room.jid)]
    # Finding 10: an empty muc#user <x/> marks it as a PM (§7.5); the sender's own is dropped.
    children = (*filtered(stanza.children), Element(USER_X))
    pm = stanza.replace(
        from_=room.occupant_jid(current),
        children=(*children, occupant_id_element(room.occupants[current].occupant_id)),
    )
    return [pm.with_to(s) for s in target.sessions]


# -- IQs ----------------------------------------------------------------------------------


def iq(room: Room, stanza: Stanza, now: float) -> list[Stanza]:
    """An IQ to the room (§9, §10, disco) or to an occupant (§17.4, XEP-0410)."""
    nick = recipient(stanza).resource
    if nick is not None:
        return _to_occupant(room, stanza, nick)
    if stanza.type not in ("get", "set"):
        return []
    query = next(iter(stanza.children), Element(""))
    handler = _ROOM_IQS.get((stanza.type, query.tag))
    if handler is None:
        return [error_reply(stanza, "service-unavailable", "cancel")]
    return handler(room, stanza, query)


def _disco_info(room: Room, stanza: Stanza, query: Element) -> list[Stanza]:
    flags = (
        ("muc_persistent", "muc_temporary", room.persistent),
        ("muc_membersonly", "muc_open", room.members_only),
        ("muc_moderated", "muc_unmoderated", room.moderated),
        ("muc_nonanonymous", "muc_semianonymous", room.non_anonymous),
        ("muc_passwordprotected", "muc_unsecured", room.password is not None),
    )
    features = [
        "http://jabber.org/protocol/muc",
        "http://jabber.org/protocol/muc#stable_id",
        "http://jabber.org/protocol/muc#self-ping-optimization",
        OCCUPANT_ID,
        "urn:xmpp:sid:0",
        "muc_hidden",
        *(on if flag else off for on, off, flag in flags),
    ]
    identity = element(f"{{{DISCO_INFO}}}identity", (("category", "conference"), ("type", "text")))
    form = _form(
        "result",
        ("hidden", "FORM_TYPE", "http://jabber.org/protocol/muc#roominfo"),
        ("text-single", "muc#roominfo_occupants", str(len(room.occupants))),
    )
    info = Element(query.tag, (), (identity, *map(_feature, features), form))
    return [result(stanza, info)]


def _disco_items(room: Room, stanza: Stanza, query: Element) -> list[Stanza]:
    # Prosody 0.12 lists no occupants here.
    return [result(stanza, Element(query.tag))]


def _form(form_type: str, *fields: tuple[str, str, str]) -> Element:
    x = f"{{{XDATA}}}"
    return Element(
        f"{x}x",
        (("type", form_type),),
        tuple(
            Element(
                f"{x}field",
                (("type", kind), ("var", var)),
                (Element(f"{x}value", text=value or None),),
            )
            for kind, var, value in fields
        ),
    )


def _admin(room: Room, stanza: Stanza, query: Element) -> list[Stanza]:
    # §8, §9: one <item/> with a role by nick or an affiliation by bare JID.
    item = query.find(f"{{{MUC_ADMIN}}}item")
    if item is None:
        return [error_reply(stanza, "bad-request", "cancel")]
    jid_text = item.get("jid")
    try:
        jid = None if jid_text is None else JID.parse(jid_text)
    except InvalidJID:
        return [error_reply(stanza, "jid-malformed", "modify")]
    if jid is not None and jid.resource is not None:
        text = "Bare JID expected, got full JID"
        return [error_reply(stanza, "jid-malformed", "modify", text=text)]
    reason_el = item.find(f"{{{MUC_ADMIN}}}reason")
    reason = None if reason_el is None else reason_el.text
    affiliation, role, nick = item.get("affiliation"), item.get("role"), item.get("nick")
    actor = sender(stanza)
    outcome: Refusal | list[Stanza] = Refusal("cancel", "bad-request")
    if affiliation is not None and jid is not None and role is None:
        outcome = room.set_affiliation(actor, jid, affiliation, reason)
    elif role is not None and nick is not None and affiliation is None:
        outcome = room.set_role(actor, nick, role, reason)
    if isinstance(outcome, Refusal):
        return [error_reply(stanza, outcome.condition, outcome.error_type)]
    return [*outcome, result(stanza)]


# Room configuration fields the simulation understands: var -> (form type, Room attribute).
_CONFIG: Final = {
    "muc#roomconfig_persistentroom": ("boolean", "persistent"),
    "muc#roomconfig_membersonly": ("boolean", "members_only"),
    "muc#roomconfig_moderatedroom": ("boolean", "moderated"),
    "muc#roomconfig_changesubject": ("boolean", "change_subject"),
    "muc#roomconfig_enablelogging": ("boolean", "logging"),
    "muc#roomconfig_allowpm": ("boolean", "allow_pm"),
    "muc#roomconfig_whois": ("list-single", "non_anonymous"),
    "muc#roomconfig_roomsecret": ("text-private", "password"),
    "muc#roomconfig_historylength": ("text-single", "history_length"),
}
# Config changes announced with their own codes (§10.2.1); any other change is 104.
_CHANGE_CODES: Final[dict[tuple[str, object], int]] = {
    ("logging", True): 170,
    ("logging", False): 171,
    ("non_anonymous", True): 172,
    ("non_anonymous", False): 173,
}


def _encode(kind: str, value: object) -> str:
    if kind == "boolean":
        return "1" if value else "0"
    if kind == "list-single":
        return "anyone" if value else "moderators"
    return "" if value is None else str(value)


def _decode(kind: str, text: str, current: object) -> object:
    if kind == "boolean":
        return text in ("1", "true")
    if kind == "list-single":
        return text == "anyone"
    if kind == "text-private":
        return text or None
    return int(text) if text.isdecimal() else current


def _owner(room: Room, stanza: Stanza, query: Element) -> list[Stanza]:
    # §10: configuration and destruction, by owners only.
    if room.affiliation(sender(stanza)) != "owner":
        text = "Only owners can configure rooms"
        return [error_reply(stanza, "forbidden", "auth", text=text)]
    if stanza.type == "get":
        fields = [
            (kind, var, _encode(kind, getattr(room, attribute)))
            for var, (kind, attribute) in _CONFIG.items()
        ]
        form = _form("form", ("hidden", "FORM_TYPE", ROOMCONFIG), *fields)
        return [result(stanza, Element(query.tag, (), (form,)))]
    child = next(iter(query.children), None)
    if child is None:
        return [error_reply(stanza, "bad-request", "modify")]
    if child.tag == f"{{{MUC_OWNER}}}destroy":
        texts = {c.name: c.text for c in child.children}
        out = room.destroy(child.get("jid"), texts.get("reason"), texts.get("password"))
        return [*out, result(stanza)]
    if child.tag == f"{{{XDATA}}}x":
        return _configure(room, stanza, child)
    return [error_reply(stanza, "service-unavailable", "cancel")]


def _configure(room: Room, stanza: Stanza, form: Element) -> list[Stanza]:
    # An empty submitted form makes an instant room (§10.1.2); either way it unlocks.
    if form.get("type") == "cancel":
        return [result(stanza)]
    if form.get("type") != "submit":
        return [error_reply(stanza, "bad-request", "cancel", text="Not a submitted form")]
    x = f"{{{XDATA}}}"
    values = {
        field.get("var", ""): "".join(v.text or "" for v in field.findall(f"{x}value"))
        for field in form.findall(f"{x}field")
    }
    if values and values.get("FORM_TYPE") != ROOMCONFIG:
        text = "Form is not of type room configuration"
        return [error_reply(stanza, "bad-request", "cancel", text=text)]
    codes: set[int] = set()
    for var, (kind, attribute) in _CONFIG.items():
        current = getattr(room, attribute)
        new = _decode(kind, values[var], current) if var in values else current
        if new != current:
            setattr(room, attribute, new)
            codes.add(_CHANGE_CODES.get((attribute, new), 104))
    room.locked_until = None
    room.trim_history()
    out = [result(stanza)]
    if codes:
        x_el = Element(USER_X, (), tuple(status(code) for code in sorted(codes)))
        out += room.broadcast(Stanza("message", type="groupchat", from_=room.jid, children=(x_el,)))
    return out


_Handler = Callable[[Room, Stanza, Element], list[Stanza]]
_ROOM_IQS: Final[dict[tuple[str | None, str], _Handler]] = {
    ("get", f"{{{DISCO_INFO}}}query"): _disco_info,
    ("get", f"{{{DISCO_ITEMS}}}query"): _disco_items,
    ("set", f"{{{MUC_ADMIN}}}query"): _admin,
    ("get", f"{{{MUC_OWNER}}}query"): _owner,
    ("set", f"{{{MUC_OWNER}}}query"): _owner,
}


def _mac(room: Room, real: JID) -> bytes:
    return hmac.new(room.salt.encode(), str(real).encode(), hashlib.sha256).digest()[:8]


def _wrap_id(room: Room, target: JID, original: str, asker: JID) -> str:
    # Prosody's scheme: base64(target-real-jid NUL original-id NUL 8-byte hmac(asker)).
    raw = f"{target}\0{original}\0".encode() + _mac(room, asker)
    return base64.b64encode(raw).decode("ascii")


def _unwrap_id(value: str | None) -> tuple[JID, str, bytes] | None:
    try:
        target, original, mac = base64.b64decode(value or "", validate=True).split(b"\0", 2)
        return JID.parse(target.decode()), original.decode(), mac
    except ValueError:  # not base64, not three parts, not UTF-8, not a JID
        return None


def _to_occupant(room: Room, stanza: Stanza, nick: str) -> list[Stanza]:
    # Prosody's handle_iq_to_occupant (§17.4) with the self-ping shortcut (XEP-0410 §3.3).
    real = sender(stanza)
    target = room.occupants.get(nick)
    if stanza.type in ("result", "error"):
        return [] if target is None else _answer(room, stanza, target)
    current = room.nick_of.get(real)
    if current is None:
        text = NOT_CONNECTED_TEXT
        return [error_reply(stanza, "not-acceptable", "cancel", text=text, by=room.jid)]
    if target is None:
        return [error_reply(stanza, "item-not-found", "cancel", text=NOT_IN_ROOM_TEXT, by=room.jid)]
    if current == nick and stanza.type == "get" and stanza.find(f"{{{PING}}}ping") is not None:
        return [result(stanza)]
    to = target.primary_jid
    payload = next(iter(stanza.children), Element(""))
    forwarded = stanza.replace(
        from_=room.occupant_jid(current),
        to=to.bare if payload.namespace in _TO_BARE else to,
        id=_wrap_id(room, to, stanza.id or "", real),
    )
    return [forwarded]


def _answer(room: Room, stanza: Stanza, asker: Occupant) -> list[Stanza]:
    # The answer to a forwarded IQ goes back to the asking session with its own id.
    unwrapped = _unwrap_id(stanza.id)
    if unwrapped is None:
        return []
    answerer, original, mac = unwrapped
    real = sender(stanza)
    answerer_nick = room.nick_of.get(answerer)
    if real not in (answerer, answerer.bare) or answerer_nick is None:
        return []
    session = next((s for s in asker.sessions if _mac(room, s) == mac), None)
    if session is None:
        return []
    return [stanza.replace(from_=room.occupant_jid(answerer_nick), to=session, id=original)]
