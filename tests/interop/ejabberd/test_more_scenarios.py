"""``tests/interop/test_more_scenarios.py`` against ejabberd.

Imported scenarios run unchanged: nick change and its conflict, a private message with
its carbon, IQs both ways. Two are rewritten for ejabberd's answers:

* self-ping: ejabberd refuses a non-occupant's self-ping with ``not-acceptable`` of type
  ``modify`` (RFC 6120 §8.3.3.13's type), where Prosody and the router say ``cancel``;
* the keep-alive across a restart: ejabberd comes back without the room's occupants
  whether it was killed or stopped with SIGTERM (Prosody keeps them on SIGTERM), and
  its room has a presence of its own (see ``ejabberd_muc``) that the rejoin's answer
  carries again, unchanged.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from examples.component import Session

from minimix_core import JID, Discard, DiscardReason, Send, Stanza

from ..harness import (
    MUC,
    body,
    codes,
    error_of,
    is_subject,
    joined,
    presences_from,
    room_with_two_sessions,
    run,
    show,
    until,
    with_id,
    world,
)
from ..lab import Lab
from ..test_more_scenarios import (
    KEEPALIVE,
    PING,
    _quiet,
    _same_presence,
    test_iq_from_a_session_to_bob_comes_back_with_its_id,
    test_iq_from_bob_to_alice_is_left_to_the_server,
    test_nick_change_conflict_goes_to_the_asking_session_only,
    test_nick_change_from_a_session_reaches_bob_and_both_sessions,
    test_private_message_to_bob_and_the_sent_carbon,
)
from .ejabberd_muc import is_room_caps, room_presences
from .lab import restart, start, stop

__all__ = [
    "test_iq_from_a_session_to_bob_comes_back_with_its_id",
    "test_iq_from_bob_to_alice_is_left_to_the_server",
    "test_keepalive_rejoins_a_room_that_a_restart_forgot",
    "test_nick_change_conflict_goes_to_the_asking_session_only",
    "test_nick_change_from_a_session_reaches_bob_and_both_sessions",
    "test_private_message_to_bob_and_the_sent_carbon",
    "test_self_ping_is_answered_by_the_router",
]

NOT_OCCUPANT = "Only occupants are allowed to send queries to the conference"
"""ejabberd's text for the ``not-acceptable`` a non-occupant's self-ping gets."""


def _occupant(room: str, nick: str = "alice") -> JID:
    return JID.parse(f"{room}/{nick}")


def _text(stanza: Stanza) -> str | None:
    error = stanza.find("error")
    text = None if error is None else error.find("{urn:ietf:params:xml:ns:xmpp-stanzas}text")
    return None if text is None else text.text


# -- self-ping (XEP-0410) --------------------------------------------------------------


def test_self_ping_is_answered_by_the_router(lab: Lab, room: str) -> None:
    """XEP-0410 §3.2-§3.3: as on Prosody, except ejabberd's own refusal of carol.

    The router answers the sessions exactly as on Prosody (a result; ``not-acceptable``
    of type ``cancel``, Prosody's text, ``by`` the room). ejabberd answers bob's own
    self-ping with a result too, but refuses carol, who is no occupant, with
    ``<error type='modify'><not-acceptable/><text>Only occupants are allowed to send
    queries to the conference</text></error>`` and no ``by``. The condition, which is
    what XEP-0410 §3.2 has a client act on, is the same; the type and text are not.
    """

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

            # The reference: what ejabberd itself answers an occupant and a non-occupant.
            own = await w.bob.ask(f"<iq type='get' to='{room}/bob'>{ping}</iq>")
            assert own.type == "result" and own.from_ == _occupant(room, "bob"), show([own])
            stranger = await w.carol.ask(f"<iq type='get' to='{room}/carol'>{ping}</iq>")
            assert stranger.from_ == _occupant(room, "carol"), show([stranger])
            assert error_of(stranger) == ("modify", "not-acceptable"), show([stranger])
            assert _text(stranger) == NOT_OCCUPANT, show([stranger])
            stranger_error = stranger.find("error")
            assert stranger_error is not None and stranger_error.get("by") is None
            assert error_of(stranger)[1] == error_of(refusal)[1], show([stranger, refusal])

    run(scenario())


# -- the keep-alive after ejabberd restarts (XEP-0410) ----------------------------------


@pytest.mark.parametrize("crash", [True, False], ids=["killed", "sigterm"])
def test_keepalive_rejoins_a_room_that_a_restart_forgot(tmp_path: Path, crash: bool) -> None:
    """XEP-0410 §1, §3.2: after ejabberd restarts, the self-ping gets not-acceptable and the
    account joins again with <history since/> (§7.2.14); the sessions never see alice leave.

    A private ejabberd (the shared one must keep its pid for the session's teardown),
    stopped by pid and started again on the same spool, configuration and ports.
    Where ejabberd differs from Prosody:

    * stopped with SIGTERM, ejabberd does not keep the occupants (Prosody 0.12 freezes
      them and kicks alice with 333 once bob's join bounces): the persistent room comes
      back from Mnesia without occupants, exactly as after a kill. bob's c2s session and
      the component's link close together: the sessions see him leave only when ejabberd
      routes his unavailable before the link is gone (most runs, not all); alice gets no
      332 either way;
    * killed, ejabberd loses what Mnesia had not yet written to ``LATEST.LOG`` (about a
      second's worth): a room configured just before the kill comes back new (201), with
      the service's default (temporary) configuration. The scenario waits until the room
      is in the spool, as any room that has existed for a while is;
    * the keep-alive's refusal is ``<error type='modify'><not-acceptable/>`` (Prosody:
      ``cancel``);
    * the rejoin's answer starts with the room's own presence (caps), unchanged since the
      sessions got it with their join: like the unchanged occupants, it is no news.
    """

    labs = [start(tmp_path)]  # the last one is running

    async def scenario() -> None:
        lab = labs[-1]
        name = f"restart-{'killed' if crash else 'sigterm'}"
        room = f"{name}@{lab.muc}"
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
            had = {s.from_: s for s in first if s.kind == "presence"}  # the room's, bob's, hers
            assert JID.parse(room) in had and is_room_caps(had[JID.parse(room)], room)

            await asyncio.to_thread(lab.wait_stored, name)  # see the docstring: a kill
            lab = await asyncio.to_thread(restart, lab, crash=crash)
            labs.append(lab)
            await asyncio.wait_for(w.host.wait_closed(), 5.0)
            lost = [*phone.drain(), *laptop.drain()]  # what came before the connection died
            bob_left = [s for s in lost if s.from_ == _occupant(room, "bob")]
            # Killed: nothing. Stopped: bob's c2s session and the component's link close
            # together, so his leave reaches the sessions only if ejabberd routes it first.
            expected = [[]] if crash else [[], ["unavailable"] * 2]
            assert [s.type for s in bob_left] in expected, show(lost)
            assert presences_from(lost, f"{room}/alice") == [], show(lost)
            assert room_presences(lost, room) == [], show(lost)

            # bob comes back first and speaks while the component is still away: a gap.
            bob = await w.reconnect("bob", lab)
            bob.send(f"<presence to='{room}/bob'><x xmlns='{MUC}'/></presence>")
            got = await until(bob, is_subject, what="the end of his join")
            # Killed or stopped, the room is back without occupants; nobody kicks alice.
            assert presences_from(got, f"{room}/alice") == [], f"the room kept alice:\n{show(got)}"
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
            assert refused and error_of(refused[0]) == ("modify", "not-acceptable"), show(refused)
            assert _text(refused[0]) == NOT_OCCUPANT, show(refused)
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
            if bob_left:
                # The sessions saw bob leave: his presence is news; hers is not.
                news = [s for s in news if s.from_ != _occupant(room, "bob")]
            # The room's own presence is among what the sessions had (ejabberd's caps,
            # same payload, another id): the router must show them nothing of it either.
            stale = [s for s in news if s.from_ in had and _same_presence(s, had[s.from_])]
            assert stale == [], f"presences the sessions already had:\n{show(stale)}"

    try:
        run(scenario())
    finally:
        stop(labs[-1])
