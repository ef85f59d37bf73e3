"""More of what two sessions of one account meet in a real room.

Nick changes and their refusal (XEP-0045 §7.6), self-pings the router answers itself
(XEP-0410), a private message and IQs both ways through the room (§7.5), and the
keep-alive noticing that a restarted Prosody forgot the account. alice@users.localhost
is the account (the example component); bob@localhost is a real c2s occupant and owner.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from examples.component import Session

from minimix_core import (
    JID,
    Config,
    Continue,
    Discard,
    DiscardReason,
    Element,
    Send,
    Stanza,
)

from .harness import (
    DISCO_INFO,
    MUC,
    MUC_USER,
    World,
    body,
    codes,
    error_of,
    is_subject,
    items,
    joined,
    presences_from,
    room_with_two_sessions,
    run,
    show,
    until,
    with_id,
    world,
)
from .lab import Lab, restart, start, stop

ALICE = "alice@users.localhost"
PING = "urn:xmpp:ping"
VERSION = "jabber:iq:version"
CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"


def _occupant(room: str, nick: str = "alice") -> JID:
    return JID.parse(f"{room}/{nick}")


async def _quiet(w: World, *sessions: Session) -> None:
    """After a sync, none of ``sessions`` got anything more."""
    await w.sync()
    for session in sessions:
        got = session.drain()
        assert got == [], f"{session} got:\n{show(got)}"


# -- nick changes (§7.6) ---------------------------------------------------------------


def test_nick_change_from_a_session_reaches_bob_and_both_sessions(lab: Lab, room: str) -> None:
    """§7.6: 303 unavailable then the new self-presence, to every session; bob sees both."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            before = len(w.router.sent())
            await phone.send(f"<presence to='{room}/alice2' id='nick1'/>")

            for session in (phone, laptop):
                got = await until(
                    session,
                    lambda s: s.from_ == _occupant(room, "alice2"),
                    what="the new self-presence",
                )
                assert len(got) == 2, f"{session} got more than the change:\n{show(got)}"
                gone, back = got
                assert gone.from_ == _occupant(room) and gone.type == "unavailable", show(got)
                assert {110, 303} <= codes(gone), show(got)
                assert [i.get("nick") for i in items(gone)] == ["alice2"], show(got)
                assert back.type is None and 110 in codes(back), show(got)
                assert gone.to == session.jid and back.to == session.jid, show(got)

            # The account asked the room once, for everyone.
            [change] = w.router.sent()[before:]
            assert change.kind == "presence" and change.to == _occupant(room, "alice2")
            assert change.from_ == JID.parse(ALICE) and change.find(f"{{{MUC}}}x") is None

            seen = await until(w.bob, lambda s: s.from_ == _occupant(room, "alice2"))
            alice = [s for s in seen if s.kind == "presence"]
            assert [str(s.from_) for s in alice] == [f"{room}/alice", f"{room}/alice2"], show(seen)
            assert alice[0].type == "unavailable" and codes(alice[0]) == {303}, show(seen)
            assert [i.get("nick") for i in items(alice[0])] == ["alice2"], show(seen)
            assert alice[1].type is None and 110 not in codes(alice[1]), show(seen)
            await _quiet(w, phone, laptop)

            # The other session speaks under the new nick too.
            await laptop.send(
                f"<message to='{room}' type='groupchat' id='after-nick'><body>me</body></message>"
            )
            seen = await until(w.bob, with_id("after-nick"))
            assert seen[-1].from_ == _occupant(room, "alice2"), show(seen)

    run(scenario())


def test_nick_change_conflict_goes_to_the_asking_session_only(lab: Lab, room: str) -> None:
    """§7.6 (409 conflict): from the nick asked for, with the request's id; nobody else
    notices, and the account keeps its nick."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            await laptop.send(f"<presence to='{room}/bob' id='nick2'/>")

            got = await until(laptop, lambda s: s.type == "error", what="the conflict")
            assert len(got) == 1, show(got)
            [error] = got
            assert error.kind == "presence" and error.id == "nick2", show(got)
            assert error.from_ == _occupant(room, "bob") and error.to == laptop.jid, show(got)
            assert error_of(error) == ("cancel", "conflict"), show(got)

            await _quiet(w, phone, laptop)
            seen = w.bob.drain()
            assert presences_from(seen, f"{room}/alice") == [], show(seen)
            # Still alice, for the room and for both sessions.
            await phone.send(
                f"<message to='{room}' type='groupchat' id='after-409'><body>still me</body></message>"
            )
            seen = await until(w.bob, with_id("after-409"))
            assert seen[-1].from_ == _occupant(room), show(seen)
            for session in (phone, laptop):
                got = await until(session, with_id("after-409"), what="the reflection")
                assert got[-1].from_ == _occupant(room), show(got)

    run(scenario())


# -- self-ping (XEP-0410) --------------------------------------------------------------


def test_self_ping_is_answered_by_the_router(lab: Lab, room: str) -> None:
    """XEP-0410 §3.2-§3.3: a joined session's self-ping gets a result, one that did not
    join gets not-acceptable; neither reaches the room. Prosody answers bob and carol alike."""

    async def scenario() -> None:
        async with world(lab, "bob", "carol") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            before = len(w.router.sent())
            ping = f"<ping xmlns='{PING}'/>"

            await phone.send(f"<iq type='get' to='{room}/alice' id='sp1'>{ping}</iq>")
            got = await until(phone, lambda s: s.kind == "iq", what="the ping's answer")
            [answer] = got
            assert answer.type == "result" and answer.id == "sp1", show(got)
            assert answer.from_ == _occupant(room) and answer.to == phone.jid, show(got)

            tablet = w.session("tablet")
            await tablet.send(f"<iq type='get' to='{room}/alice' id='sp2'>{ping}</iq>")
            got = await until(tablet, lambda s: s.kind == "iq", what="the ping's answer")
            [refusal] = got
            assert refusal.type == "error" and refusal.id == "sp2", show(got)
            assert refusal.from_ == _occupant(room) and refusal.to == tablet.jid, show(got)
            assert error_of(refusal) == ("cancel", "not-acceptable"), show(got)
            error = refusal.find("error")
            assert error is not None and error.get("by") == room, show(got)

            assert w.router.sent()[before:] == [], show(w.router.sent()[before:])
            await _quiet(w, phone, laptop, tablet)

            # The reference: what Prosody itself answers an occupant and a non-occupant.
            own = await w.bob.ask(f"<iq type='get' to='{room}/bob'>{ping}</iq>")
            assert own.type == "result" and own.from_ == _occupant(room, "bob"), show([own])
            stranger = await w.carol.ask(f"<iq type='get' to='{room}/carol'>{ping}</iq>")
            assert error_of(stranger) == error_of(refusal), show([stranger, refusal])

    run(scenario())


# -- private messages and IQs through the room (§7.5) ------------------------------------


def test_private_message_to_bob_and_the_sent_carbon(lab: Lab, room: str) -> None:
    """§7.5: bob gets alice's PM once, from room/alice; the other session gets a
    XEP-0280 §6 <sent/> carbon; the sending session gets nothing."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            await phone.send(
                f"<message to='{room}/bob' type='chat' id='pm-a'><body>psst bob</body></message>"
            )

            seen = await until(w.bob, with_id("pm-a"), what="alice's PM")
            pm = seen[-1]
            assert pm.from_ == _occupant(room) and pm.type == "chat", show(seen)
            assert body(pm) == "psst bob" and pm.to == w.bob.jid, show(seen)
            assert pm.find(f"{{{MUC_USER}}}x") is not None, show(seen)  # §7.5: the PM marker

            got = await until(laptop, lambda s: s.kind == "message", what="the carbon")
            assert len(got) == 1, show(got)
            [carbon] = got
            assert carbon.from_ == JID.parse(ALICE) and carbon.to == laptop.jid, show(got)
            sent = carbon.find(f"{{{CARBONS}}}sent")
            forwarded = None if sent is None else sent.find(f"{{{FORWARD}}}forwarded")
            inner = None if forwarded is None else forwarded.find("{jabber:client}message")
            assert inner is not None, show(got)
            assert inner.get("from") == str(phone.jid) and inner.get("to") == f"{room}/bob"
            assert inner.get("id") == "pm-a" and inner.get("type") == "chat", show(got)
            assert [b.text for b in inner.findall("{jabber:client}body")] == ["psst bob"]

            await _quiet(w, phone, laptop)
            assert [s.id for s in w.bob.drain()].count("pm-a") == 0, "bob got the PM twice"

    run(scenario())


def test_iq_from_a_session_to_bob_comes_back_with_its_id(lab: Lab, room: str) -> None:
    """An IQ to an occupant JID, routed like a §7.5 private message: bob's client gets the
    query from room/alice; his answer reaches the asking session only, from room/bob, with
    the session's own id (the router's id went to the room)."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            before = len(w.router.sent())
            await laptop.send(
                f"<iq type='get' to='{room}/bob' id='q1'><query xmlns='{DISCO_INFO}'/></iq>"
            )

            request = await w.bob.request()
            assert request.type == "get" and request.from_ == _occupant(room), show([request])
            assert request.to == w.bob.jid, show([request])
            assert request.find(f"{{{DISCO_INFO}}}query") is not None, show([request])
            [asked] = w.router.sent()[before:]
            assert asked.from_ == JID.parse(ALICE) and asked.id != "q1", show([asked])

            w.bob.send(
                f"<iq type='result' to='{request.from_}' id='{request.id}'>"
                f"<query xmlns='{DISCO_INFO}'><identity category='client' type='pc' name='bob'/>"
                "</query></iq>"
            )
            got = await until(laptop, lambda s: s.kind == "iq", what="bob's answer")
            [answer] = got
            assert answer.type == "result" and answer.id == "q1", show(got)
            assert answer.from_ == _occupant(room, "bob") and answer.to == laptop.jid, show(got)
            query = answer.find(f"{{{DISCO_INFO}}}query")
            identity = None if query is None else query.find(f"{{{DISCO_INFO}}}identity")
            assert identity is not None and identity.get("name") == "bob", show(got)
            await _quiet(w, phone, laptop)

    run(scenario())


def test_iq_from_bob_to_alice_is_left_to_the_server(lab: Lab, room: str) -> None:
    """RFC 6121 §8.5.2.1.3 through §7.5: bob's version query reaches the account's bare JID;
    the router answers Continue and the server answers for the account (here the example's
    minimal routing: service-unavailable). No session sees it; the room keeps alice."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            before = len(w.router.actions)
            reply = await w.bob.ask(
                f"<iq type='get' to='{room}/alice'><query xmlns='{VERSION}'/></iq>"
            )

            left = [
                a.stanza
                for a in w.router.actions[before:]
                if isinstance(a, Continue) and a.stanza.kind == "iq"
            ]
            assert len(left) == 1, f"the router's actions: {w.router.actions[before:]!r}"
            [query] = left
            assert query.type == "get" and query.from_ == _occupant(room, "bob"), show(left)
            assert query.to == JID.parse(ALICE), show(left)
            assert query.find(f"{{{VERSION}}}query") is not None, show(left)

            assert reply.type == "error" and reply.from_ == _occupant(room), show([reply])
            assert error_of(reply) == ("cancel", "service-unavailable"), show([reply])
            await _quiet(w, phone, laptop)
            # An IQ error is not a bounce Prosody kicks for: alice stays.
            assert presences_from(w.bob.drain(), f"{room}/alice") == []

    run(scenario())


# -- the keep-alive after Prosody restarts (XEP-0410) ------------------------------------

KEEPALIVE = Config(keepalive_idle=0.5, keepalive_timeout=2.0)
"""Pings after half a second of silence: the restarted room is noticed within a second."""


def _canonical(element: Element) -> Element:
    """``element`` with its attributes (and its children's) sorted: XML ignores their order."""
    return element.replace(
        attrs=tuple(sorted(element.attrs)),
        children=tuple(_canonical(c) for c in element.children),
    )


def _same_presence(a: Stanza, b: Stanza) -> bool:
    """Same sender, type and payload, whatever the ids, addressees and attribute order."""
    return (a.from_, a.type) == (b.from_, b.type) and [_canonical(c) for c in a.children] == [
        _canonical(c) for c in b.children
    ]


@pytest.mark.parametrize("crash", [True, False], ids=["killed", "sigterm"])
def test_keepalive_rejoins_a_room_that_a_restart_forgot(tmp_path: Path, crash: bool) -> None:
    """XEP-0410 §1, §3.2: after Prosody restarts, the self-ping gets not-acceptable and the
    account joins again with <history since/> (§7.2.14); the sessions never see alice leave.

    A private Prosody: the shared one must keep its pid for the session's teardown.
    Killed, Prosody restores the persistent room without occupants. Stopped with SIGTERM,
    it saves and restores the occupants (``room:freeze(true)``), so alice is still in
    when it comes back; but bob's session ended first (the sessions see him leave), and
    his join's broadcast to alice bounces while the component is away, so Prosody kicks
    her (333). Either way the room no longer counts alice once the component is back.
    """

    labs = [start(tmp_path)]  # the last one is running

    async def scenario() -> None:
        lab = labs[-1]
        room = f"restart-{'killed' if crash else 'sigterm'}@{lab.muc}"
        async with world(lab, "bob", config=KEEPALIVE) as w:
            await w.bob.create_room(room, "bob", {"muc#roomconfig_persistentroom": "1"})
            phone, laptop = w.session("phone"), w.session("laptop")
            first = await joined(phone, room)
            await joined(laptop, room)
            w.bob.send(
                f"<message to='{room}' type='groupchat' id='before'><body>before</body></message>"
            )
            for session in (phone, laptop):
                await until(session, with_id("before"))
            await w.sync()
            for inbox in (phone, laptop, w.bob):
                inbox.drain()
            had = {s.from_: s for s in first if s.kind == "presence"}  # bob's, and her own

            lab = restart(lab, crash=crash)
            labs.append(lab)
            await asyncio.wait_for(w.host.wait_closed(), 5.0)
            lost = [*phone.drain(), *laptop.drain()]  # what came before the connection died
            bob_left = [s for s in lost if s.from_ == _occupant(room, "bob")]
            assert [s.type for s in bob_left] == ([] if crash else ["unavailable"] * 2), show(lost)
            assert presences_from(lost, f"{room}/alice") == [], show(lost)

            # bob comes back first and speaks while the component is still away: a gap.
            bob = await w.reconnect("bob", lab)
            bob.send(f"<presence to='{room}/bob'><x xmlns='{MUC}'/></presence>")
            got = await until(bob, is_subject, what="the end of his join")
            alice = presences_from(got, f"{room}/alice")
            if crash:
                assert alice == [], f"the killed room kept alice:\n{show(got)}"
            else:  # restored with the room, then kicked for the bounce
                assert [s.type for s in alice] == [None, "unavailable"], show(got)
                assert 333 in codes(alice[-1]), show(got)
            assert all(201 not in codes(s) for s in got), f"the room was new:\n{show(got)}"
            bob.send(f"<message to='{room}' type='groupchat' id='gap'><body>gap</body></message>")
            await until(bob, with_id("gap"))

            # The server's link comes back; the router never heard it was gone.
            mark = len(w.router.actions)
            await w.reconnect_host(lab)
            phone, laptop = w.session("phone"), w.session("laptop")
            seen = await until(
                bob,
                lambda s: s.from_ == _occupant(room) and s.type is None,
                timeout=5 * KEEPALIVE.keepalive_idle + 5.0,
                what="alice back in the room",
            )
            assert presences_from(seen, f"{room}/alice")[-1].type is None, show(seen)

            actions = w.router.actions[mark:]
            sent = [a.stanza for a in actions if isinstance(a, Send)]
            pings = [s for s in sent if s.kind == "iq" and s.find(f"{{{PING}}}ping") is not None]
            assert pings and pings[0].to == _occupant(room), show(sent)
            refused = [
                a.stanza
                for a in actions
                if isinstance(a, Discard) and a.reason is DiscardReason.KEEPALIVE
            ]
            assert refused and error_of(refused[0]) == ("cancel", "not-acceptable"), show(refused)
            rejoins = [s for s in sent if s.kind == "presence"]
            assert len(rejoins) == 1 and rejoins[0].to == _occupant(room), show(sent)
            muc = rejoins[0].find(f"{{{MUC}}}x")
            history = None if muc is None else muc.find(f"{{{MUC}}}history")
            assert history is not None and history.get("since"), show(rejoins)

            # The sessions: the gap message, once, and never alice leaving.
            rejoined: dict[Session, list[Stanza]] = {}
            for session in (phone, laptop):
                rejoined[session] = await until(session, with_id("gap"), what="the gap")
            await w.sync()
            for session in (phone, laptop):
                stanzas = rejoined[session]
                stanzas += session.drain()
                assert [body(s) for s in stanzas if body(s)] == ["gap"], show(stanzas)
                assert all(s.type != "unavailable" for s in stanzas), show(stanzas)

            w.bob.send(
                f"<message to='{room}' type='groupchat' id='after'><body>after</body></message>"
            )
            for session in (phone, laptop):
                arrived = await until(session, with_id("after"), what="bob's next message")
                assert arrived[-1].from_ == _occupant(room, "bob"), show(arrived)
                assert body(arrived[-1]) == "after", show(arrived)

            # Silent: only what changed while the account was out reaches the sessions.
            news = [s for stanzas in rejoined.values() for s in stanzas if s.kind == "presence"]
            if not crash:
                # bob left and came back: his presence is news; hers is not.
                news = [s for s in news if s.from_ != _occupant(room, "bob")]
            # Prosody writes attributes in another order after a restart: the router must
            # still recognise what the sessions had and show them nothing of it.
            stale = [s for s in news if s.from_ in had and _same_presence(s, had[s.from_])]
            assert stale == [], f"presences the sessions already had:\n{show(stale)}"

    try:
        run(scenario())
    finally:
        stop(labs[-1])
