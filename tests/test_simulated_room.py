"""The simulated MUC service (minimix_core.testing) against real Prosody 0.12 transcripts.

Each fixture test replays what the clients of one transcript sent and checks that
``MUCService`` answers as Prosody did. Answers are compared per (recipient, room): the
order in which one recipient hears from one room is meaningful, while the interleaving of
different recipients' connections in a capture is not. Stanzas are compared after
:func:`canonical`, which masks only what is random in Prosody (occupant-id and stanza-id
values, the HMAC inside rewritten IQ ids), drops ``xml:lang`` and sorts child elements
(Prosody itself emits the same children in different orders, e.g. ``<delay/>`` and
``<stanza-id/>`` in j-history). Everything else must be equal.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from fixture_transcripts import (
    Entry,
    StanzaEntry,
    StreamClosed,
    connection_jid,
    load,
    parse_transcript,
)
from minimix_core import JID, Element, Stanza, parse_stanza, serialize
from minimix_core.testing import MUCService

MUC_DOMAIN = "conference.localhost"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MASKED_IDS = frozenset({"{urn:xmpp:occupant-id:0}occupant-id", "{urn:xmpp:sid:0}stanza-id"})


# -- comparison ---------------------------------------------------------------------------


def _canonical_element(el: Element) -> Element:
    attrs = tuple(
        sorted(
            (key, "*" if key == "id" and el.tag in MASKED_IDS else value)
            for key, value in el.attrs
            if key != XML_LANG
        )
    )
    children = sorted((_canonical_element(c) for c in el.children), key=serialize)
    return Element(el.tag, attrs, tuple(children), el.text or None)


def _canonical_id(value: str | None) -> str | None:
    # Prosody rewrites IQ ids to base64(real-jid NUL id NUL hmac); the hmac is random.
    try:
        parts = base64.b64decode(value or "", validate=True).split(b"\0", 2)
        if len(parts) == 3:
            return f"rewritten:{parts[0].decode()}:{parts[1].decode()}"
    except ValueError:
        pass
    return value


def canonical(stanza: Stanza) -> str:
    """The stanza as text, with Prosody's random values masked and children sorted."""
    return serialize(
        Stanza(
            stanza.kind,
            type=stanza.type,
            from_=stanza.from_,
            to=stanza.to,
            id=_canonical_id(stanza.id),
            attrs=tuple(sorted(a for a in stanza.attrs if a[0] != XML_LANG)),
            children=tuple(sorted(map(_canonical_element, stanza.children), key=serialize)),
        )
    )


def envelope(stanza: Stanza) -> str:
    """Kind, type, addresses and id only: for answers the simulation does not copy in full."""
    return f"{stanza.kind} {stanza.type} {stanza.from_} -> {stanza.to} id={stanza.id}"


def by_recipient(stanzas: Iterable[Stanza], *, full: bool = True) -> dict[str, list[str]]:
    """Stanzas grouped by (recipient, room), each group in order."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for stanza in stanzas:
        room = stanza.from_.bare if stanza.from_ is not None else None
        grouped[f"{stanza.to} <- {room}"].append(canonical(stanza) if full else envelope(stanza))
    return dict(grouped)


# -- replaying a transcript -----------------------------------------------------------------


def _exchanges(entries: list[Entry]) -> list[tuple[list[Entry], list[Stanza]]]:
    # What the connections sent (several, when a client sent again before any answer
    # came, as bob does in j-history), with what the server sent until the next send.
    out: list[tuple[list[Entry], list[Stanza]]] = []
    for entry in entries:
        if isinstance(entry, StanzaEntry) and entry.direction == "from-server":
            assert out, f"line {entry.line}: an answer before anything was sent"
            out[-1][1].append(entry.stanza)
        elif out and not out[-1][1]:
            out[-1][0].append(entry)
        else:
            out.append(([entry], []))
    return out


def _reaches(connection: str, jid: JID) -> bool:
    # A component receives for its whole domain, a c2s connection for its full JID.
    kind, _, address = connection.partition(" ")
    return jid.domain == address if kind == "component" else str(jid) == address


def _leave_everything(service: MUCService, real: JID, now: float) -> list[Stanza]:
    # The user's server sends unavailable to the rooms of a client whose stream closed.
    out: list[Stanza] = []
    for room in list(service.rooms):
        for nick, sessions in service.occupants(room).items():
            if real in sessions:
                leave = Stanza(
                    "presence", type="unavailable", from_=real, to=room.with_resource(nick)
                )
                out += service.receive(leave, now=now)
    return out


def replay(
    name: str,
    *,
    epoch: float = 0.0,
    envelope_only: frozenset[str] = frozenset(),
    until: str | None = None,
) -> MUCService:
    """Feed a transcript's sent stanzas to a fresh service and compare every answer.

    ``epoch`` is the POSIX time of the transcript's 0 s, so that ``<delay/>`` stamps
    match; answers to stanzas whose id is in ``envelope_only`` are compared by envelope;
    the replay stops at the stanza with id ``until``.
    """
    service = MUCService(MUC_DOMAIN, lock_new_rooms=True)
    ids: dict[str, str] = {}
    closed: list[str] = []
    for triggers, expected in _exchanges(load(name)):
        actual: list[Stanza] = []
        full = True
        for trigger in triggers:
            now = epoch + trigger.time
            if isinstance(trigger, StreamClosed):
                closed.append(trigger.connection)
                real = connection_jid(trigger.connection)
                if real.local is not None:  # a component leaves ghosts (finding 12)
                    actual += _leave_everything(service, real, now)
                continue
            sent = trigger.routed
            if sent.id is not None and sent.id == until:
                return service
            sent = sent.replace(id=ids.get(sent.id or "", sent.id))
            actual += service.receive(sent, now=now)
            full = full and sent.id not in envelope_only
        actual = [s for s in actual if not any(_reaches(c, _to(s)) for c in closed)]
        for stanza in expected:
            assert stanza.from_ is not None and stanza.from_.domain == MUC_DOMAIN
        where = f"{name} line {triggers[0].line}"
        assert by_recipient(actual, full=full) == by_recipient(expected, full=full), where
        _learn_ids(expected, actual, ids)
    return service


def _to(stanza: Stanza) -> JID:
    assert stanza.to is not None, "every stanza the service sends has a recipient"
    return stanza.to


def _learn_ids(expected: list[Stanza], actual: list[Stanza], ids: dict[str, str]) -> None:
    # A rewritten IQ id differs from Prosody's; later answers must use the simulated one.
    mine = {(s.to, canonical(s)): s.id for s in actual}
    for stanza in expected:
        simulated = mine.get((stanza.to, canonical(stanza)))
        if stanza.id is not None and simulated is not None and simulated != stanza.id:
            ids[stanza.id] = simulated


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()


ROOM = JID.parse("room@conference.localhost")


# -- the transcripts ------------------------------------------------------------------------


def test_create_room_and_second_join() -> None:
    """XEP-0045 §10.1.1, §7.2.2, §7.2.10, §7.2.15 -- a-create-room.txt (findings 1, 2).

    A presence without <x/> to a missing room gets item-not-found from the service; a
    bare-JID join creates the room (201 + 110, then an empty subject); the locked room
    refuses bob with item-not-found by the service; the owner's instant-room submit
    unlocks it; bob's presence without <x/> is refused by the room with Prosody's text;
    bob then joins and alice leaves. The config form and disco#info are compared by
    envelope here and by content in their own tests.
    """
    replay("a-create-room.txt", envelope_only=frozenset({"iq1", "iq3"}))


def test_groupchat_reflection_and_non_joined_full_jid() -> None:
    """XEP-0045 §7.2.3, §7.4 -- b-second-join-groupchat.txt (findings 3, 4).

    The owner sees bob's real JID, bob does not see alice's; groupchat is reflected to
    every occupant with the sender's id and origin-id plus stanza-id and occupant-id;
    a full JID of alice that never joined gets not-acceptable.
    """
    replay("b-second-join-groupchat.txt")


def test_subject_set_refused_and_sent_to_late_joiner() -> None:
    """XEP-0045 §8.1, §7.2.15 -- c-subject.txt (finding 17).

    The owner sets the subject; a participant gets forbidden (auth); a late joiner gets
    the subject last, from the setter's occupant JID with a <delay/>; an empty
    <subject/> clears it; carol's stream closing makes bob see her leave.
    """
    service = replay("c-subject.txt", epoch=_epoch("2026-11-24T22:03:38"))
    assert service.rooms == set()


def test_nick_change_and_conflict() -> None:
    """XEP-0045 §7.6, XEP-0410 §3 -- d-nick-change.txt (findings 6, 17).

    303 from the old nick with the new one in <item nick/> (no occupant-id on alice's own
    copy), then the new nick; a change to a taken nick gets 409 from the requested occupant
    JID; self-ping answers for the new nick and item-not-found for the old one.
    """
    replay("d-nick-change.txt")


def test_kick_and_ban() -> None:
    """XEP-0045 §8.2, §9.1, §7.2.7 -- e-kick-ban.txt (finding 3).

    Kick: 307 with actor and reason, 110 on the victim's copy (which never shows the
    actor's real JID); ban of the bare JID: 301, then 403 on rejoin from the bare JID
    and from a full JID.
    """
    replay("e-kick-ban.txt")


def test_destroy_and_tombstone() -> None:
    """XEP-0045 §10.9, §10.2 -- f-destroy.txt (finding 13).

    Each occupant gets only its own unavailable with <destroy jid><reason/></destroy> and
    110; a destroyed temporary room is made anew by the next join (201); a destroyed
    persistent room answers joins with gone (an xmpp: URI of the alternate venue and the
    reason as text); the 104 config-change message follows the persistent-room form.
    """
    service = replay("f-destroy.txt")
    assert JID.parse("f-persistent-220332@conference.localhost") not in service.rooms


def test_leave_then_silence() -> None:
    """XEP-0045 §7.14, §17.3 rule 5 -- g-leave.txt (finding 15).

    The leave keeps its <status/> text; a second unavailable gets no answer; groupchat
    after leaving gets not-acceptable; the empty temporary room disappears (disco gets
    item-not-found from the service).
    """
    service = replay("g-leave.txt")
    assert service.rooms == set()


def test_join_errors() -> None:
    """XEP-0045 §7.2.5-§7.2.10, §9.3, §9.1 -- h-join-errors.txt (findings 2, 16).

    not-authorized (auth) without and with a wrong password, then success;
    registration-required (auth) in a members-only room, then success after a member
    grant (announced to the owner only); conflict (cancel) for a taken nick; forbidden
    (auth) after a ban before the first join; item-not-found by the service for a room
    its creator has not configured. Each comes from the requested occupant JID with the
    room (or, for the lock, the service) as ``by``.
    """
    replay("h-join-errors.txt")


def test_self_ping() -> None:
    """XEP-0410 §3.2-§3.3, XEP-0045 §17.4 -- i-self-ping.txt (findings 3, 8).

    result when joined; not-acceptable (by the room) from a full JID that is not the
    occupant and after leaving; item-not-found (by the room) for an unknown nick;
    a ping to another occupant is forwarded with a rewritten id and its answer mapped
    back; a missing room answers item-not-found by the service.
    """
    replay("i-self-ping.txt")


def test_history_on_join() -> None:
    """XEP-0045 §7.2.13, §7.2.14 -- j-history.txt (finding 14).

    Rejoins get the room's default history, the last two with maxstanzas='2', the ones
    after T with since=T, and none with maxstanzas='0' or maxchars='0'; each history
    message keeps its id and stanza-id and carries <delay from=room/>. (The MAM query at
    the end is not simulated.)
    """
    replay("j-history.txt", epoch=_epoch("2026-11-24T22:04:03"), until="iq42")


def test_private_messages_and_iq_forwarding() -> None:
    """XEP-0045 §7.5, §17.4 -- k-pm-and-iq.txt (findings 9, 10).

    PMs both ways arrive from the sender's occupant JID with an empty muc#user <x/>;
    jabber:iq:version and vcard-temp IQs reach alice with rewritten ids, and her result
    and error go back to bob with his original ids.
    """
    replay("k-pm-and-iq.txt")


# -- behaviour the transcripts do not show ----------------------------------------------------

LOUNGE = JID.parse("lounge@muc.example.net")
ALICE = JID.parse("alice@example.org")
PHONE = JID.parse("alice@example.org/phone")
BOB = JID.parse("bob@example.net/laptop")
CAROL = JID.parse("carol@example.com/desk")
MUC_NS = "http://jabber.org/protocol/muc"
USER_NS = "http://jabber.org/protocol/muc#user"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"


def xml(text: str) -> Stanza:
    return parse_stanza(text)


def join(
    service: MUCService,
    real: JID,
    nick: str,
    *,
    room: JID = LOUNGE,
    inner: str = "",
    now: float = 0.0,
) -> list[Stanza]:
    return service.receive(
        xml(
            f"<presence from='{real}' to='{room}/{nick}'><x xmlns='{MUC_NS}'>{inner}</x></presence>"
        ),
        now=now,
    )


def leave(service: MUCService, real: JID, nick: str, *, room: JID = LOUNGE) -> list[Stanza]:
    return service.receive(xml(f"<presence from='{real}' to='{room}/{nick}' type='unavailable'/>"))


def say(
    service: MUCService, real: JID, body: str, *, room: JID = LOUNGE, now: float = 0.0
) -> list[Stanza]:
    message = f"<message from='{real}' to='{room}' type='groupchat' id='m-{body}'>"
    return service.receive(xml(f"{message}<body>{body}</body></message>"), now=now)


def iq(service: MUCService, real: JID, to: str, kind: str, payload: str) -> list[Stanza]:
    return service.receive(xml(f"<iq from='{real}' to='{to}' type='{kind}' id='q'>{payload}</iq>"))


def admin(service: MUCService, real: JID, item: str, *, room: JID = LOUNGE) -> list[Stanza]:
    query = f"<query xmlns='http://jabber.org/protocol/muc#admin'>{item}</query>"
    return iq(service, real, str(room), "set", query)


def owner(service: MUCService, real: JID, kind: str, inner: str = "") -> list[Stanza]:
    query = f"<query xmlns='http://jabber.org/protocol/muc#owner'>{inner}</query>"
    return iq(service, real, str(LOUNGE), kind, query)


def submit(service: MUCService, real: JID, fields: dict[str, str]) -> list[Stanza]:
    values = {"FORM_TYPE": "http://jabber.org/protocol/muc#roomconfig", **fields}
    form = "".join(f"<field var='{k}'><value>{v}</value></field>" for k, v in values.items())
    return owner(service, real, "set", f"<x xmlns='jabber:x:data' type='submit'>{form}</x>")


def codes(stanza: Stanza) -> set[int]:
    x = stanza.find(f"{{{USER_NS}}}x")
    found = [] if x is None else x.findall(f"{{{USER_NS}}}status")
    return {int(s.get("code", "0")) for s in found}


def items(stanza: Stanza) -> list[dict[str, str]]:
    x = stanza.find(f"{{{USER_NS}}}x")
    found = [] if x is None else x.findall(f"{{{USER_NS}}}item")
    return [dict(i.attrs) for i in found]


def error(stanza: Stanza) -> tuple[str | None, str | None, str | None, str | None]:
    """(error type, condition, by, text) of an error stanza."""
    assert stanza.type == "error"
    el = stanza.find("error")
    assert el is not None
    condition = next(c.name for c in el.children if c.name != "text")
    text = el.find(f"{{{STANZAS_NS}}}text")
    return el.get("type"), condition, el.get("by"), None if text is None else text.text


def route(stanzas: list[Stanza]) -> list[tuple[str, str | None, str, str]]:
    """(kind, type, from, to) of each stanza, in order."""
    return [(s.kind, s.type, str(s.from_), str(s.to)) for s in stanzas]


def to(stanzas: list[Stanza], real: JID) -> list[Stanza]:
    return [s for s in stanzas if s.to == real]


def body(stanza: Stanza) -> str | None:
    el = stanza.find("body")
    return None if el is None else el.text


def lounge() -> MUCService:
    """A service where ALICE made the lounge (owner) and BOB joined it."""
    service = MUCService()
    join(service, ALICE, "alice")
    join(service, BOB, "bob")
    return service


A = "lounge@muc.example.net/alice"
B = "lounge@muc.example.net/bob"
R = "lounge@muc.example.net"


def test_transcript_reader_keeps_stanzas_and_closes_only() -> None:
    """Transcript format of tests/fixtures/prosody-0.12/README.md -- 00-connect.txt.

    Not a XEP-0045 behaviour: the reader behind every test here. XEP-0114 and RFC 6120
    stream elements are not stanzas.

    Stream headers, the handshake, features and SASL are skipped by name; a client's own
    closing tag is kept as StreamClosed; a c2s stanza gets its server-stamped ``from``.
    """
    entries = load("00-connect.txt")
    closes = [e for e in entries if isinstance(e, StreamClosed)]
    stanzas = [e for e in entries if isinstance(e, StanzaEntry)]
    assert [c.connection for c in closes] == ["c2s bob@localhost/lab", "component users.localhost"]
    assert [(e.direction, e.stanza.kind, e.stanza.type) for e in stanzas] == [
        ("to-server", "iq", "set"),
        ("from-server", "iq", "result"),
        ("to-server", "presence", None),
        ("from-server", "presence", None),
    ]
    assert str(stanzas[0].routed.from_) == "bob@localhost/lab"
    assert stanzas[1].routed is stanzas[1].stanza
    with pytest.raises(ValueError, match="unexpected element <starttls>"):
        parse_transcript(">>> [c2s a@b/c to-server]   0.1s\n<starttls/>\n")
    with pytest.raises(ValueError, match="no element"):
        parse_transcript("<<< [c2s a@b/c from-server]   0.1s\nnot xml\n")


def test_owner_form_and_disco_info() -> None:
    """XEP-0045 §10.1.3, §6.4, XEP-0410 §3.3 -- a-create-room.txt steps 4 and 6.

    The owner gets a muc#roomconfig form with the room's settings; others get forbidden.
    disco#info shows the conference identity and the features Prosody advertises.
    """
    service = lounge()
    [form_reply] = owner(service, ALICE, "get")
    assert route([form_reply]) == [("iq", "result", R, str(ALICE))]
    x = form_reply.children[0].children[0]
    values = {f.get("var"): f.children[0].text for f in x.children}
    assert (x.tag, x.get("type")) == ("{jabber:x:data}x", "form")
    assert values["FORM_TYPE"] == "http://jabber.org/protocol/muc#roomconfig"
    assert values["muc#roomconfig_persistentroom"] == "0"
    assert values["muc#roomconfig_whois"] == "moderators"
    assert values["muc#roomconfig_roomsecret"] is None
    assert values["muc#roomconfig_historylength"] == "20"
    [refused] = owner(service, BOB, "get")
    assert error(refused) == ("auth", "forbidden", None, "Only owners can configure rooms")
    [info] = iq(service, BOB, R, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    query = info.children[0]
    identity = query.children[0]
    assert (identity.get("category"), identity.get("type")) == ("conference", "text")
    features = {c.get("var") for c in query.children if c.name == "feature"}
    assert {
        "http://jabber.org/protocol/muc",
        "http://jabber.org/protocol/muc#self-ping-optimization",
        "http://jabber.org/protocol/muc#stable_id",
        "urn:xmpp:occupant-id:0",
        "muc_temporary",
        "muc_open",
        "muc_unmoderated",
        "muc_semianonymous",
        "muc_unsecured",
    } <= features
    [items_reply] = iq(
        service, BOB, R, "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>"
    )
    assert items_reply.type == "result" and not items_reply.children[0].children


def test_resync_when_a_joined_session_joins_again() -> None:
    """XEP-0045 §7.2.1 (resync), §17.3 rule 3 -- README finding 5.

    The session gets the whole join sequence again (occupants, self-presence with 110 and
    no 201, history, subject); the others get a duplicate available presence.
    """
    service = lounge()
    say(service, BOB, "hi")
    out = join(service, ALICE, "alice")
    assert route(out) == [
        ("presence", None, B, str(ALICE)),
        ("presence", None, A, str(BOB)),
        ("presence", None, A, str(ALICE)),
        ("message", "groupchat", B, str(ALICE)),
        ("message", "groupchat", R, str(ALICE)),
    ]
    assert items(out[0])[0]["jid"] == str(BOB)  # the owner is a moderator: real JIDs
    assert codes(out[2]) == {110}
    assert body(out[3]) == "hi"


def test_join_to_another_nick_while_joined_is_a_nick_change_and_resync() -> None:
    """XEP-0045 §7.6, §7.2.1 -- README finding 6 (errors from the requested JID: d).

    303 from the old nick, then the list, the new nick's self-presence, history and
    subject; the other occupant sees the ordinary 303 pair.
    """
    service = lounge()
    out = join(service, ALICE, "alicia")
    mine, bobs = to(out, ALICE), to(out, BOB)
    assert route(bobs) == [
        ("presence", "unavailable", A, str(BOB)),
        ("presence", None, "lounge@muc.example.net/alicia", str(BOB)),
    ]
    assert codes(bobs[0]) == {303} and items(bobs[0])[0]["nick"] == "alicia"
    assert [(s.from_.resource if s.from_ else None, codes(s)) for s in mine] == [
        ("alice", {303, 110}),
        ("bob", set()),
        ("alicia", {110}),
        (None, set()),
    ]
    assert mine[0].find("{urn:xmpp:occupant-id:0}occupant-id") is None  # finding 17
    assert service.occupants(LOUNGE) == {"bob": frozenset({BOB}), "alicia": frozenset({ALICE})}


def test_multi_session_nick() -> None:
    """XEP-0045 §4 "Multi-Session Nick", §7.2.8 -- README finding 7.

    A second real JID of the same bare JID joining the same nick becomes a session of the
    same occupant: its self-presence carries one <item/> per session, the others see a
    re-broadcast available, history and subject go to the new session only, and the
    unavailable comes only when the last session leaves.
    """
    service = lounge()
    say(service, BOB, "hi")
    out = join(service, PHONE, "alice")
    assert route(out) == [
        ("presence", None, B, str(PHONE)),
        ("presence", None, A, str(BOB)),
        ("presence", None, A, str(ALICE)),
        ("presence", None, A, str(PHONE)),
        ("message", "groupchat", B, str(PHONE)),
        ("message", "groupchat", R, str(PHONE)),
    ]
    assert [i.get("jid") for i in items(out[3])] == [str(ALICE), str(PHONE)]
    assert codes(out[3]) == {110}
    assert items(out[1]) == [{"role": "moderator", "affiliation": "owner"}]
    assert service.occupants(LOUNGE)["alice"] == {ALICE, PHONE}
    # PMs and groupchat reach every session.
    pm = xml(f"<message from='{BOB}' to='{A}' type='chat'><body>psst</body></message>")
    assert [s.to for s in service.receive(pm)] == [ALICE, PHONE]
    out = leave(service, PHONE, "alice")
    assert route(out) == [
        ("presence", None, A, str(BOB)),
        ("presence", None, A, str(ALICE)),
        ("presence", "unavailable", A, str(PHONE)),
    ]
    assert items(out[2]) == [{"role": "none", "affiliation": "owner", "jid": str(PHONE)}] and codes(
        out[2]
    ) == {110}
    out = leave(service, ALICE, "alice")
    assert route(out) == [
        ("presence", "unavailable", A, str(BOB)),
        ("presence", "unavailable", A, str(ALICE)),
    ]


def _bounce(real: JID, to: str, kind: str, condition: str = "", text: str = "") -> Stanza:
    inner = f"<{condition} xmlns='{STANZAS_NS}'/>" if condition else ""
    inner += f"<text xmlns='{STANZAS_NS}'>{text}</text>" if text else ""
    return xml(
        f"<{kind} from='{real}' to='{to}' type='error'><error type='cancel'>{inner}</error></{kind}>"
    )


def _status_text(stanza: Stanza) -> str | None:
    el = stanza.find("status")
    return None if el is None else el.text


def test_error_bounces_drop_the_sender() -> None:
    """XEP-0045 §11.1 (333), §18.1.2 ghost removal -- README finding 11.

    A kickable message error to the room, or any presence error, drops the sending
    session with 333 and ``Kicked: …`` (the error text only in non-anonymous rooms);
    with several sessions only that one goes. Other errors are passed on or ignored.
    """
    service = lounge()
    out = service.receive(_bounce(ALICE, R, "message", "service-unavailable"))
    assert route(out) == [
        ("presence", "unavailable", A, str(BOB)),
        ("presence", "unavailable", A, str(ALICE)),
    ]
    assert [(codes(s), _status_text(s)) for s in out] == [
        ({333}, "Kicked: service unavailable"),
        ({333, 110}, "Kicked: service unavailable"),
    ]
    # A non-occupant's bounce, and a bounce Prosody does not kick for, change nothing.
    assert service.receive(_bounce(ALICE, R, "message", "service-unavailable")) == []
    assert service.receive(_bounce(BOB, R, "message", "feature-not-implemented")) == []
    # A PM bounce that is not kickable reaches the other occupant as a PM.
    join(service, ALICE, "alice")
    [passed] = service.receive(_bounce(BOB, A, "message", "feature-not-implemented"))
    assert route([passed]) == [("message", "error", B, str(ALICE))]
    assert passed.find(f"{{{USER_NS}}}x") is not None
    # A presence error, from one of two sessions, drops only that session.
    join(service, PHONE, "alice")
    out = service.receive(_bounce(PHONE, A, "presence"))
    assert route(out) == [
        ("presence", None, A, str(BOB)),
        ("presence", None, A, str(ALICE)),
        ("presence", "unavailable", A, str(PHONE)),
    ]
    assert (codes(out[2]), _status_text(out[2])) == ({333, 110}, "Kicked: presence error")
    # A kickable PM bounce (no condition at all counts) drops the sender.
    out = service.receive(_bounce(ALICE, B, "message"))
    assert [s.to for s in out] == [BOB, ALICE] and codes(out[0]) == {333}
    assert service.occupants(LOUNGE) == {"bob": frozenset({BOB})}


def test_error_kick_text_in_non_anonymous_room() -> None:
    """XEP-0045 §11.1 -- README finding 11: the error's text is shown when JIDs are public."""
    service = MUCService()
    room = service.create_room("lounge", non_anonymous=True)
    join(service, ALICE, "alice", room=room)
    bounce = _bounce(ALICE, A, "presence", "remote-server-timeout", "no route")
    [gone] = service.receive(bounce)
    assert _status_text(gone) == "Kicked: remote server timeout: no route"
    assert service.rooms == set()


def test_presence_updates_and_probes() -> None:
    """XEP-0045 §7.7 (updates), §17.3 rules 1 and 4 (probes), §7.2.1 -- README finding 1."""
    service = lounge()
    away = xml(f"<presence from='{BOB}' to='{B}' id='p1'><show>away</show></presence>")
    out = service.receive(away)
    assert route(out) == [("presence", None, B, str(ALICE)), ("presence", None, B, str(BOB))]
    assert all(s.find("show") is not None and s.id == "p1" for s in out)
    assert codes(out[1]) == {110}
    # Presence to the room's bare JID is taken as the occupant's own (Prosody).
    back = service.receive(xml(f"<presence from='{BOB}' to='{R}'/>"))
    assert route(back) == route(out)
    assert service.receive(xml(f"<presence from='{CAROL}' to='{R}'/>")) == []
    # Probes: answered for occupants, refused for others.
    [probe] = service.receive(xml(f"<presence from='{BOB}' to='{A}' type='probe'/>"))
    assert route([probe]) == [("presence", None, A, str(BOB))] and "jid" not in items(probe)[0]
    [mine] = service.receive(xml(f"<presence from='{ALICE}' to='{B}' type='probe'/>"))
    assert items(mine)[0]["jid"] == str(BOB)  # the owner is a moderator
    assert service.receive(xml(f"<presence from='{BOB}' to='{R}/nobody' type='probe'/>")) == []
    [refused] = service.receive(xml(f"<presence from='{CAROL}' to='{A}' type='probe'/>"))
    assert error(refused) == (
        "cancel",
        "not-acceptable",
        R,
        "You are not currently connected to this chat",
    )
    [bad] = service.receive(xml(f"<presence from='{BOB}' to='{A}' type='subscribe'/>"))
    assert error(bad) == ("modify", "bad-request", R, None)
    # A join to a blank nick is refused.
    [blank] = join(service, CAROL, " ")
    assert error(blank) == ("modify", "not-allowed", R, "Invisible Nicknames are forbidden")
    [blank] = service.receive(xml(f"<presence from='{BOB}' to='{R}/ '/>"))
    assert error(blank)[1] == "not-allowed"
    [blank] = join(service, CAROL, " ", room=JID.parse("new@muc.example.net"))
    assert error(blank)[1] == "not-allowed" and len(service.rooms) == 1


def test_room_options_on_join() -> None:
    """XEP-0045 §7.2.3-§7.2.7, §7.2.12, §7.2.15, §7.5 -- h-join-errors.txt, k-pm-and-iq.txt.

    Room settings a test can choose with create_room: password (401 as in h), real JIDs
    for everyone (100), logging (170), a preset subject (no <delay/>), no PMs.
    """
    service = MUCService()
    room = service.create_room(
        "lounge", non_anonymous=True, logging=True, password="pw", subject="Topic", allow_pm=False
    )
    assert service.rooms == {room}
    [refused] = join(service, ALICE, "alice", room=room)
    assert error(refused) == ("auth", "not-authorized", R, None)
    [refused] = join(service, ALICE, "alice", room=room, inner="<password>no</password>")
    assert error(refused)[1] == "not-authorized"
    out = join(service, ALICE, "alice", room=room, inner="<password>pw</password>")
    assert route(out) == [
        ("presence", None, A, str(ALICE)),
        ("message", "groupchat", R, str(ALICE)),
    ]
    assert codes(out[0]) == {100, 110, 170}
    assert out[1].find("subject") is not None and out[1].find("{urn:xmpp:delay}delay") is None
    out = join(service, BOB, "bob", room=room, inner="<password>pw</password>")
    assert items(to(out, BOB)[0])[0]["jid"] == str(ALICE)  # everyone sees real JIDs
    assert items(to(out, ALICE)[0])[0]["jid"] == str(BOB)
    # Private messages are refused when the room disallows them.
    pm = xml(f"<message from='{BOB}' to='{A}' type='chat' id='x'><body>hi</body></message>")
    [refused] = service.receive(pm)
    assert error(refused) == (
        "cancel",
        "policy-violation",
        R,
        "Private messages are restricted in this group",
    )


def test_moderated_and_members_only_rooms() -> None:
    """XEP-0045 §7.2.6, §7.4, §9.3, §9.4 -- h-join-errors.txt (finding 16).

    Members-only rooms refuse strangers (407 as in h), announce a member grant to the
    moderators only, and drop an occupant whose membership is revoked (321); in a
    moderated room an unaffiliated occupant is a visitor and may not speak.
    """
    service = MUCService()
    room = service.create_room("lounge", moderated=True, members_only=True)
    [refused] = join(service, BOB, "bob", room=room)
    assert error(refused) == ("auth", "registration-required", R, None)
    service.set_affiliation(room, ALICE, "owner")
    join(service, ALICE, "alice", room=room)
    notice = service.set_affiliation(room, BOB, "member")
    assert route(notice) == [("message", None, R, str(ALICE))]
    assert items(notice[0]) == [{"affiliation": "member", "jid": "bob@example.net"}]
    join(service, BOB, "bob", room=room)
    service.set_affiliation(room, BOB, "none")  # members-only: no longer a member -> 321
    assert "bob" not in service.occupants(room)
    # Moderated: a member is a participant, an unaffiliated occupant a visitor.
    service = MUCService()
    room = service.create_room("lounge", moderated=True)
    join(service, ALICE, "alice", room=room)
    out = join(service, BOB, "bob", room=room)
    assert items(to(out, BOB)[-2])[0]["role"] == "visitor"
    [refused] = say(service, BOB, "may I?")
    assert error(refused) == (
        "auth",
        "forbidden",
        None,
        "You do not currently have permission to speak in this chat",
    )
    assert say(service, ALICE, "no") != []


def test_history_limits() -> None:
    """XEP-0045 §7.2.13-§7.2.14 -- README finding 14: seconds, maxchars, since, hints."""
    service = lounge()
    for second, text in enumerate(["one", "two", "three"]):
        say(service, BOB, text, now=1000.0 + second)
    store = "<store xmlns='urn:xmpp:hints'/>"
    skip = "<no-store xmlns='urn:xmpp:hints'/>"
    for payload in (store, f"<body>x</body>{skip}", "<active xmlns='x'/>"):
        message = f"<message from='{BOB}' to='{R}' type='groupchat'>{payload}</message>"
        service.receive(xml(message), now=1003.0)

    def history(inner: str, now: float = 1003.0) -> list[str | None]:
        leave(service, CAROL, "carol")
        out = join(service, CAROL, "carol", inner=f"<history {inner}/>", now=now)
        return [body(s) for s in out if s.kind == "message" and s.find("subject") is None]

    assert history("seconds='1'", now=1003.5) == [None]  # the <store/> hint, kept at 1003
    assert history("seconds='2'", now=1003.5) == ["three", None]
    assert history("maxstanzas='3' since='1970-01-01T00:16:41Z'") == ["two", "three", None]
    assert history("since='garbage' maxstanzas='x'") == ["one", "two", "three", None]
    sizes = [len(serialize(s)) for s in to(join(service, CAROL, "carol"), CAROL)[2:5]]
    assert history(f"maxchars='{sizes[-1] + len(str(CAROL))}'") == [None]
    assert history("maxchars='0'") == []
    # A room keeps at most its history length, and all of it below that.
    service = MUCService()
    join(service, ALICE, "alice")
    for number in range(25):
        say(service, ALICE, str(number))
    out = to(join(service, BOB, "bob"), BOB)
    assert [body(s) for s in out[2:-1]] == [str(n) for n in range(5, 25)]
    service = MUCService()
    join(service, ALICE, "alice")
    for number in range(15):
        say(service, ALICE, str(number))
    out = to(join(service, BOB, "bob"), BOB)
    assert [body(s) for s in out[2:-1]] == [str(n) for n in range(15)]
    service = MUCService(history_length=2)
    join(service, ALICE, "alice")
    for text in ("one", "two", "three"):
        say(service, ALICE, text)
    out = join(service, BOB, "bob")
    assert [body(s) for s in to(out, BOB)[2:4]] == ["two", "three"]
    service = MUCService(history_length=0)
    join(service, ALICE, "alice")
    say(service, ALICE, "one")
    assert len(join(service, BOB, "bob")) == 4  # presences and subject only


def test_one_session_changes_nick_then_rejoins_the_other() -> None:
    """XEP-0045 §7.6 with a multi-session nick (§4) -- PROTOCOL 1.7, Prosody's behaviour.

    When one of two sessions changes nick, only it sees the 303; the others see the old
    nick stay and the new one arrive. Moving back into the other session's nick first
    tells the session it joins a pre-existing session, then removes the lone nick.
    """
    service = lounge()
    join(service, PHONE, "alice")
    al = "lounge@muc.example.net/al"
    out = service.receive(xml(f"<presence from='{PHONE}' to='{al}'/>"))
    assert route(out) == [
        ("presence", "unavailable", A, str(PHONE)),
        ("presence", None, A, str(BOB)),
        ("presence", None, A, str(ALICE)),
        ("presence", None, al, str(ALICE)),
        ("presence", None, al, str(BOB)),
        ("presence", None, al, str(PHONE)),
        ("presence", None, A, str(PHONE)),
    ]
    assert codes(out[0]) == {303, 110} and items(out[0])[0]["nick"] == "al"
    assert "jid" in items(out[3])[0] and "jid" not in items(out[4])[0]  # own bare JID sees
    assert service.occupants(LOUNGE)["al"] == {PHONE}
    out = service.receive(xml(f"<presence from='{PHONE}' to='{A}'/>"))
    assert route(out) == [
        ("presence", "unavailable", A, str(PHONE)),
        ("presence", "unavailable", al, str(PHONE)),
        ("presence", "unavailable", al, str(ALICE)),
        ("presence", "unavailable", al, str(BOB)),
        ("presence", None, A, str(BOB)),
        ("presence", None, A, str(ALICE)),
        ("presence", None, A, str(PHONE)),
    ]
    assert _status_text(out[0]) == "you are joining pre-existing session alice"
    assert items(out[3]) == [{"role": "none", "affiliation": "owner"}]
    assert service.occupants(LOUNGE) == {"alice": {ALICE, PHONE}, "bob": {BOB}}


def test_role_changes_and_their_refusals() -> None:
    """XEP-0045 §8.2-§8.5 (roles by nick), §9.6, §17.4 rules 4-6 -- e-kick-ban.txt shape.

    Only moderators change roles, never on a higher affiliation, and only owners and
    admins grant or take moderator; a role change is broadcast with actor and reason.
    """
    service = lounge()
    join(service, CAROL, "carol")
    refusals = {
        "<nothing/>": ("cancel", "bad-request"),
        "<item nick='carol' role='none'/>": ("cancel", "not-allowed"),
        "<item nick='carol' role='visitor' affiliation='member'/>": ("cancel", "bad-request"),
    }
    for item, expected in refusals.items():
        [refused] = admin(service, BOB, item)
        assert error(refused)[:2] == expected, item
    for item, expected in {
        "<item nick='nobody' role='none'/>": ("modify", "item-not-found"),
        "<item nick='carol' role='king'/>": ("modify", "not-acceptable"),
    }.items():
        [refused] = admin(service, ALICE, item)
        assert error(refused)[:2] == expected, item
    out = admin(service, ALICE, "<item nick='carol' role='visitor'><reason>hush</reason></item>")
    assert route(out) == [
        ("presence", None, "lounge@muc.example.net/carol", str(ALICE)),
        ("presence", None, "lounge@muc.example.net/carol", str(BOB)),
        ("presence", None, "lounge@muc.example.net/carol", str(CAROL)),
        ("iq", "result", R, str(ALICE)),
    ]
    [to_alice, to_bob, to_carol, _] = out
    x = to_alice.find(f"{{{USER_NS}}}x")
    assert x is not None
    [actor] = [a for i in x.children for a in i.children if a.name == "actor"]
    assert actor.attrs == (("nick", "alice"), ("jid", str(ALICE)))
    assert items(to_bob)[0]["role"] == "visitor" and codes(to_carol) == {110}
    # A moderator without affiliation: not over an owner, and not about moderators.
    admin(service, ALICE, "<item nick='bob' role='moderator'/>")
    [refused] = admin(service, BOB, "<item nick='alice' role='participant'/>")
    assert error(refused)[:2] == ("cancel", "not-allowed")
    [refused] = admin(service, BOB, "<item nick='carol' role='moderator'/>")
    assert error(refused)[:2] == ("cancel", "not-allowed")
    out = admin(service, BOB, "<item nick='carol' role='none'/>")
    assert [codes(s) for s in out[:3]] == [{307}, {307}, {307, 110}]


def test_affiliation_changes_and_their_refusals() -> None:
    """XEP-0045 §9.1-§9.8, §10.3-§10.8 -- e-kick-ban.txt and h-join-errors.txt shapes.

    Owners may do anything but leave the room without an owner; admins only below
    admin. Becoming or ceasing to be a moderator in a semi-anonymous room re-sends the
    occupant list, since real-JID visibility changed (Prosody).
    """
    service = lounge()
    join(service, CAROL, "carol")
    for item, expected in {
        "<item jid='a b@example.net' affiliation='member'/>": ("modify", "jid-malformed", None),
        f"<item jid='{BOB}' affiliation='member'/>": (
            "modify",
            "jid-malformed",
            "Bare JID expected, got full JID",
        ),
        "<item jid='bob@example.net' affiliation='king'/>": ("modify", "not-acceptable", None),
        "<item jid='alice@example.org' affiliation='admin'/>": ("cancel", "conflict", None),
    }.items():
        [refused] = admin(service, ALICE, item)
        assert (*error(refused)[:2], error(refused)[3]) == expected, item
    [refused] = admin(service, BOB, "<item jid='carol@example.com' affiliation='member'/>")
    assert error(refused)[:2] == ("cancel", "not-allowed")
    # A member grant to an occupant: same role, new affiliation, for everyone to see.
    out = admin(service, ALICE, "<item jid='bob@example.net' affiliation='member'/>")
    assert [items(s)[0]["affiliation"] for s in out[:3]] == ["member"] * 3
    # An admin grant makes carol a moderator: she now gets everyone with real JIDs.
    out = admin(service, ALICE, "<item jid='carol@example.com' affiliation='admin'/>")
    carols = to(out, CAROL)
    assert [str(s.from_) for s in carols] == ["lounge@muc.example.net/carol", A, B]
    assert [items(s)[0].get("jid") for s in carols[1:]] == [str(ALICE), str(BOB)]
    [refused] = admin(service, CAROL, "<item jid='alice@example.org' affiliation='outcast'/>")
    assert error(refused)[:2] == ("cancel", "not-allowed")
    out = admin(service, CAROL, "<item jid='bob@example.net' affiliation='outcast'/>")
    assert [codes(s) for s in out[:3]] == [{301}, {301}, {301, 110}]
    # With a second owner, alice may step down; she loses moderator and gets the list.
    admin(service, ALICE, "<item jid='carol@example.com' affiliation='owner'/>")
    out = admin(service, ALICE, "<item jid='alice@example.org' affiliation='member'/>")
    mine = to(out, ALICE)
    assert items(mine[0])[0]["role"] == "participant"
    assert [str(s.from_) for s in mine[1:-1]] == ["lounge@muc.example.net/carol"]
    assert "jid" not in items(mine[1])[0]


def test_owner_requests() -> None:
    """XEP-0045 §10.1-§10.2 (configuration), §10.9 (destroy) -- f-destroy.txt, h-join-errors.txt."""
    service = lounge()
    [refused] = owner(service, ALICE, "set")
    assert error(refused)[:2] == ("modify", "bad-request")
    [refused] = owner(service, ALICE, "set", "<unknown/>")
    assert error(refused)[:2] == ("cancel", "service-unavailable")
    cancel = "<x xmlns='jabber:x:data' type='cancel'/>"
    assert route(owner(service, ALICE, "set", cancel)) == [("iq", "result", R, str(ALICE))]
    [refused] = owner(service, ALICE, "set", "<x xmlns='jabber:x:data' type='form'/>")
    assert error(refused) == ("cancel", "bad-request", None, "Not a submitted form")
    wrong = "<x xmlns='jabber:x:data' type='submit'><field var='a'><value>b</value></field></x>"
    [refused] = owner(service, ALICE, "set", wrong)
    assert error(refused) == (
        "cancel",
        "bad-request",
        None,
        "Form is not of type room configuration",
    )
    out = submit(
        service,
        ALICE,
        {
            "muc#roomconfig_whois": "anyone",
            "muc#roomconfig_enablelogging": "1",
            "muc#roomconfig_changesubject": "true",
            "muc#roomconfig_historylength": "5",
            "muc#roomconfig_roomsecret": "",
            "muc#roomconfig_allowpm": "0",
        },
    )
    assert route(out) == [
        ("iq", "result", R, str(ALICE)),
        ("message", "groupchat", R, str(ALICE)),
        ("message", "groupchat", R, str(BOB)),
    ]
    assert codes(out[1]) == {104, 170, 172}
    out = submit(
        service,
        ALICE,
        {
            "muc#roomconfig_whois": "moderators",
            "muc#roomconfig_enablelogging": "0",
            "muc#roomconfig_historylength": "many",
        },
    )
    assert codes(out[1]) == {171, 173}
    # Participants may now change the subject; the same subject again says nothing.
    subject = f"<message from='{BOB}' to='{R}' type='groupchat'><subject>news</subject></message>"
    assert [s.to for s in service.receive(xml(subject))] == [ALICE, BOB]
    assert service.receive(xml(subject)) == []
    assert service.subject(LOUNGE) == "news"
    # Destroying a temporary room (with a password for the new venue) leaves no tombstone.
    out = owner(service, ALICE, "set", "<destroy><password>pw</password></destroy>")
    destroyed = out[0].find(f"{{{USER_NS}}}x")
    assert destroyed is not None
    assert serialize(destroyed.children[0]) == (
        '<destroy xmlns="http://jabber.org/protocol/muc#user"><password>pw</password></destroy>'
    )
    assert route(out)[-1] == ("iq", "result", R, str(ALICE))
    assert service.rooms == set()
    assert [codes(s) for s in join(service, BOB, "bob")] == [{201, 110}, set()]


def test_admin_helpers() -> None:
    """XEP-0045 §8.2 (kick), §9.1 (ban), §10.9 (destroy) -- e-kick-ban.txt, f-destroy.txt.

    What a test can do to a room from outside the protocol, and what the room says.
    """
    service = lounge()
    assert service.domain == JID.parse("muc.example.net")
    assert service.affiliation(LOUNGE, PHONE) == "owner"
    assert service.occupant_id(LOUNGE, BOB) == service.occupant_id(LOUNGE, BOB.bare)
    [presence] = to(join(service, CAROL, "carol"), ALICE)
    oid = presence.find("{urn:xmpp:occupant-id:0}occupant-id")
    assert oid is not None and oid.get("id") == service.occupant_id(LOUNGE, CAROL)
    out = service.kick(LOUNGE, "carol", actor="alice", reason="spam")
    assert [(str(s.to), codes(s)) for s in out] == [
        (str(ALICE), {307}),
        (str(BOB), {307}),
        (str(CAROL), {307, 110}),
    ]
    assert '<actor nick="alice"/><reason>spam</reason>' in serialize(out[0])
    out = service.kick(LOUNGE, "bob")
    assert "actor" not in serialize(out[0])
    out = service.set_affiliation(LOUNGE, ALICE, "outcast")
    assert [codes(s) for s in out] == [{301, 110}]
    assert service.rooms == set()  # its last occupant banned, the temporary room is gone
    with pytest.raises(KeyError, match="no room"):
        service.occupants(LOUNGE)
    # Persistent rooms stay empty, then leave a tombstone when destroyed.
    room = service.create_room("lounge", persistent=True, subject="")
    with pytest.raises(ValueError, match="exists"):
        service.create_room("lounge")
    with pytest.raises(KeyError, match="no occupant"):
        service.kick(room, "nobody")
    with pytest.raises(ValueError, match="unknown affiliation"):
        service.set_affiliation(room, ALICE, "friend")
    assert service.subject(room) is None
    assert service.set_affiliation(room, ALICE, "admin") == []  # nobody to tell
    join(service, ALICE, "alice")
    leave(service, ALICE, "alice")
    assert service.rooms == {room}
    join(service, ALICE, "alice")
    out = service.destroy(room, reason="moved", alternate=JID.parse("new@muc.example.net"))
    assert serialize(out[0].children[-1].children[0]) == (
        '<destroy xmlns="http://jabber.org/protocol/muc#user" jid="new@muc.example.net">'
        "<reason>moved</reason></destroy>"
    )
    [gone] = join(service, BOB, "bob")
    assert error(gone) == ("cancel", "gone", "muc.example.net", "moved")
    assert service.receive(_bounce(BOB, A, "presence")) == []
    # An administrator may make the room again; a tombstone without venue or reason.
    service.create_room("lounge", persistent=True)
    service.destroy(room)
    [gone] = iq(service, BOB, A, "get", "<ping xmlns='urn:xmpp:ping'/>")
    assert error(gone) == ("cancel", "gone", "muc.example.net", None)
    assert gone.find("error") is not None and "xmpp:" not in serialize(gone)


def test_shutdown_and_forget() -> None:
    """XEP-0045 §11.2 (332), XEP-0410 §1 -- README findings 8 and 12 (ghosts)."""
    service = lounge()
    room = service.create_room("archive", persistent=True)
    join(service, CAROL, "carol", room=room)
    out = service.shutdown()
    assert [(str(s.from_), str(s.to), codes(s)) for s in out] == [
        (A, str(ALICE), {332, 110}),
        (B, str(BOB), {332, 110}),
        ("archive@muc.example.net/carol", str(CAROL), {332, 110}),
    ]
    assert service.rooms == {room}
    service = lounge()
    join(service, PHONE, "alice")
    service.forget(PHONE)
    assert service.occupants(LOUNGE) == {"alice": {ALICE}, "bob": {BOB}}
    [refused] = iq(service, PHONE, A, "get", "<ping xmlns='urn:xmpp:ping'/>")
    assert error(refused) == (
        "cancel",
        "not-acceptable",
        R,
        "You are not currently connected to this chat",
    )
    service.forget(PHONE)  # not there any more: nothing happens
    service.forget(ALICE)
    service.forget(BOB)
    assert service.rooms == set()


def test_service_addresses_and_misuse() -> None:
    """XEP-0045 §6.1 (service discovery), §7.2.10 -- g-leave.txt, i-self-ping.txt (by=service)."""
    with pytest.raises(ValueError, match="bare domain"):
        MUCService("room@muc.example.net")
    service = MUCService()
    [info] = iq(service, ALICE, "muc.example.net", "get", f"<query xmlns='{DISCO_INFO_NS}'/>")
    assert [c.get("var") for c in info.children[0].children][1:] == [
        "http://jabber.org/protocol/muc",
        DISCO_INFO_NS,
    ]
    [refused] = iq(service, ALICE, "muc.example.net", "set", "<query xmlns='jabber:iq:register'/>")
    assert error(refused)[:2] == ("cancel", "service-unavailable")
    assert iq(service, ALICE, "muc.example.net", "result", "") == []
    assert service.receive(xml(f"<message from='{ALICE}' to='muc.example.net'/>")) == []
    for stanza in (
        xml("<message to='lounge@muc.example.net'/>"),
        xml(f"<message from='{ALICE}'/>"),
        xml(f"<message from='{ALICE}' to='lounge@elsewhere.example'/>"),
    ):
        with pytest.raises(ValueError, match=r"not a stanza for muc\.example\.net"):
            service.receive(stanza)
    # A missing room: errors are dropped, everything else is item-not-found by the service.
    assert service.receive(_bounce(ALICE, A, "message", "gone")) == []
    [missing] = service.receive(
        xml(f"<presence from='{ALICE}' to='{R}'><x xmlns='{MUC_NS}'/></presence>")
    )
    assert error(missing) == ("cancel", "item-not-found", "muc.example.net", None)


def test_room_addresses() -> None:
    """XEP-0045 §7.4, §7.5, §17.4 (IQ forwarding) -- b, g and k transcripts' edges."""
    service = lounge()
    [refused] = service.receive(xml(f"<message from='{BOB}' to='{R}'><body>hi</body></message>"))
    assert error(refused)[:2] == ("cancel", "service-unavailable")
    assert iq(service, BOB, R, "result", "") == []
    [refused] = iq(service, BOB, R, "get", "<query xmlns='jabber:iq:version'/>")
    assert error(refused)[:2] == ("cancel", "service-unavailable")
    # Groupchat: an id is made up when missing, forged room-made children are dropped.
    forged = (
        f"<message from='{BOB}' to='{R}' type='groupchat'><body>hi</body>"
        f"<occupant-id xmlns='urn:xmpp:occupant-id:0' id='fake'/>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='{R}' id='fake'/>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.net' id='kept'/>"
        f"<delay xmlns='urn:xmpp:delay' from='{R}' stamp='2000-01-01T00:00:00Z'/></message>"
    )
    first, second = service.receive(xml(forged))
    assert first.id == second.id and first.id is not None and first.id.startswith("lounge-")
    assert "fake" not in serialize(first) and 'id="kept"' in serialize(first)
    assert "2000" not in serialize(first)
    # Private messages: from non-occupants, of type groupchat, to nobody.
    [refused] = service.receive(xml(f"<message from='{CAROL}' to='{A}' type='chat'/>"))
    assert error(refused)[:3] == ("cancel", "not-acceptable", R)
    assert service.receive(_bounce(CAROL, A, "message", "gone")) == []
    [refused] = service.receive(xml(f"<message from='{BOB}' to='{A}' type='groupchat'/>"))
    assert error(refused)[:3] == ("modify", "bad-request", R)
    [refused] = service.receive(xml(f"<message from='{BOB}' to='{R}/nobody' type='chat'/>"))
    assert error(refused) == ("cancel", "item-not-found", R, "Recipient not in room")
    spoofed = (
        f"<message from='{BOB}' to='{A}' type='chat'><x xmlns='{USER_NS}'><invite/></x></message>"
    )
    [pm] = service.receive(xml(spoofed))
    assert "invite" not in serialize(pm)
    # IQs between occupants: pubsub goes to the bare JID; answers must match the id.
    pubsub = "<pubsub xmlns='http://jabber.org/protocol/pubsub'/>"
    join(service, PHONE, "alice")
    [forwarded] = iq(service, BOB, A, "get", pubsub)
    assert (str(forwarded.to), str(forwarded.from_)) == (str(ALICE), B)
    assert forwarded.id is not None
    answers = [
        f"<iq from='{ALICE}' to='{B}' type='result' id='not base64!'/>",
        f"<iq from='{ALICE}' to='{B}' type='result' id='aGVsbG8='/>",
        f"<iq from='{PHONE}' to='{B}' type='result' id='{forwarded.id}'/>",
        f"<iq from='{ALICE}' to='{R}/nobody' type='result' id='{forwarded.id}'/>",
        f"<iq from='{ALICE}' to='{A}' type='result' id='{forwarded.id}'/>",
    ]
    for answer in answers:
        assert service.receive(xml(answer)) == [], answer
    [back] = service.receive(
        xml(f"<iq from='{ALICE}' to='{B}' type='result' id='{forwarded.id}'/>")
    )
    assert (str(back.to), str(back.from_), back.id) == (str(BOB), A, "q")
    # The asker left: the answer has nowhere to go.
    [forwarded] = iq(service, PHONE, B, "get", "<query xmlns='jabber:iq:version'/>")
    leave(service, PHONE, "alice")
    answer = f"<iq from='{BOB}' to='{A}' type='result' id='{forwarded.id}'/>"
    assert service.receive(xml(answer)) == []
    leave(service, BOB, "bob")
    assert service.receive(xml(answer)) == []  # nor from an answerer who left


def test_lock_and_its_timeout() -> None:
    """XEP-0045 §10.1.1 (locked room) -- a-create-room.txt, h-join-errors.txt (finding 2).

    A new room refuses others (item-not-found by the service) until configured, or
    until Prosody's 300 s lock timeout passes.
    """
    service = MUCService(lock_new_rooms=True)
    join(service, ALICE, "alice", now=1000.0)
    [refused] = join(service, BOB, "bob", now=1299.0)
    assert error(refused) == ("cancel", "item-not-found", "muc.example.net", None)
    out = join(service, BOB, "bob", now=1300.0)
    assert codes(to(out, BOB)[1]) == {110}
