"""Router features beyond joining and leaving, against the real room: history, IQs, PMs, timers.

Where a direct joiner is the reference (history), carol@localhost joins the same room
over c2s and the late-joining session must get what she got.
"""

from __future__ import annotations

import asyncio

from minimix_core import JID, Config, Discard, DiscardReason, Stanza

from .harness import (
    DISCO_INFO,
    MUC,
    body,
    codes,
    is_subject,
    joined,
    room_with_two_sessions,
    run,
    show,
    until,
    with_id,
    world,
)
from .lab import Lab

PING = "urn:xmpp:ping"
DELAY = "urn:xmpp:delay"


def test_late_joiner_gets_the_history_a_direct_joiner_gets(lab: Lab, room: str) -> None:
    """§7.2.15: history (with <delay/>) between the self-presence and the subject."""

    async def scenario() -> None:
        async with world(lab, "bob", "carol") as w:
            await w.bob.create_room(room, "bob")
            for n in (1, 2, 3):
                message_id = f"h{n}"
                w.bob.send(
                    f"<message to='{room}' type='groupchat' id='{message_id}'>"
                    f"<body>m{n}</body></message>"
                )
                await until(w.bob, with_id(message_id))
            phone = w.session("phone")
            got = await joined(phone, room)
            assert [s.id for s in got if s.kind == "message" and body(s)] == ["h1", "h2", "h3"]

            w.bob.send(f"<message to='{room}' type='groupchat' id='h4'><body>m4</body></message>")
            await until(phone, with_id("h4"))

            w.carol.send(f"<presence to='{room}/carol'><x xmlns='{MUC}'/></presence>")
            direct = await until(w.carol, is_subject, what="the end of her join")
            late = await joined(w.session("laptop"), room)

            def history(stanzas: list[Stanza]) -> list[tuple[str | None, str | None]]:
                return [(s.id, body(s)) for s in stanzas if s.kind == "message" and body(s)]

            assert history(direct) == [("h1", "m1"), ("h2", "m2"), ("h3", "m3"), ("h4", "m4")]
            assert history(late) == history(direct), f"direct:\n{show(direct)}\nlate:\n{show(late)}"
            for message in late:
                if body(message):
                    assert message.find(f"{{{DELAY}}}delay") is not None, show([message])
            self_at = next(i for i, s in enumerate(late) if 110 in codes(s))
            first_history = next(i for i, s in enumerate(late) if body(s))
            assert self_at < first_history < len(late) - 1, show(late)

    run(scenario())


def test_session_iqs_to_the_room_are_answered_to_each_session(lab: Lab, room: str) -> None:
    """Two sessions use the same IQ id at once; each gets the room's answer with its id."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            for session in (phone, laptop):
                await session.send(
                    f"<iq type='get' to='{room}' id='same'><query xmlns='{DISCO_INFO}'/></iq>"
                )
            for session in (phone, laptop):
                got = await until(session, lambda s: s.kind == "iq", what="the answer")
                [answer] = got
                assert answer.type == "result" and answer.id == "same", show(got)
                assert answer.from_ == JID.parse(room) and answer.to == session.jid, show(got)
                assert answer.find(f"{{{DISCO_INFO}}}query") is not None, show(got)
            await w.sync()
            assert phone.drain() == [] and laptop.drain() == []

    run(scenario())


def test_private_message_from_bob_reaches_both_sessions(lab: Lab, room: str) -> None:
    """§7.5: a PM to alice's occupant JID reaches every session; her reply reaches bob once."""

    async def scenario() -> None:
        async with world(lab, "bob") as w:
            phone, laptop = await room_with_two_sessions(w, room)
            w.bob.send(
                f"<message to='{room}/alice' type='chat' id='pm1'><body>psst</body></message>"
            )
            for session in (phone, laptop):
                got = await until(session, with_id("pm1"), what="bob's PM")
                pm = got[-1]
                assert pm.from_ == JID.parse(f"{room}/bob") and pm.to == session.jid, show(got)
                assert pm.type == "chat" and body(pm) == "psst", show(got)

            await phone.send(
                f"<message to='{room}/bob' type='chat' id='pm2'><body>yes?</body></message>"
            )
            seen = await until(w.bob, with_id("pm2"), what="alice's PM")
            assert seen[-1].from_ == JID.parse(f"{room}/alice") and body(seen[-1]) == "yes?"
            await w.sync()
            assert [s.id for s in w.bob.drain()].count("pm2") == 0, "bob got alice's PM twice"

    run(scenario())


def test_keepalive_self_ping_through_the_hosts_timers(lab: Lab, room: str) -> None:
    """XEP-0410 via next_deadline()/handle_timer(): the room answers, sessions see nothing."""

    async def scenario() -> None:
        config = Config(keepalive_idle=0.3, keepalive_timeout=5.0)
        async with world(lab, "bob", config=config) as w:
            await w.bob.create_room(room, "bob")
            phone = w.session("phone")
            await joined(phone, room)
            await asyncio.sleep(1.5)  # silence: the router must ping on its own
            pings = [
                s
                for s in w.router.sent()
                if s.kind == "iq" and s.find(f"{{{PING}}}ping") is not None
            ]
            assert pings, f"no keep-alive ping was sent:\n{show(w.router.sent())}"
            assert all(p.to == JID.parse(f"{room}/alice") for p in pings), show(pings)
            answered = [
                a
                for a in w.router.actions
                if isinstance(a, Discard) and a.reason is DiscardReason.KEEPALIVE
            ]
            assert answered, "the room's answers to the pings were not recognised"
            await w.sync()
            assert phone.drain() == [], "a session saw the keep-alive"
            w.bob.send(
                f"<message to='{room}' type='groupchat' id='k1'><body>still here</body></message>"
            )
            await until(phone, with_id("k1"))

    run(scenario())
