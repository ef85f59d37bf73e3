"""The keep-alive (XEP-0410) notices that the room forgot the account, and rejoins.

The room is made to forget alice's occupant without telling anyone: Prosody's admin shell
removes it from the room's tables, as a MUC service that lost its state (or a restart
that did not keep occupants) would. Through the module, the account self-pings after
``--keepalive-idle`` seconds of silence, hears ``not-acceptable``, joins again asking for
the history since the last message it saw, and the devices notice nothing but what they
missed. Directly, each client is out without knowing it; only its own self-ping tells it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interop.harness import error_of, run, show, until
from interop.lab import LabError

from .devices import clients, from_room, messages, text_of
from .scenes import full_room
from .stack import Stack, start_stack, stop_stack

PING = "urn:xmpp:ping"
IDLE = 1.0
"""Seconds of silence after which the account self-pings the room."""
REJOIN_TIMEOUT = 10 * IDLE + 10.0
"""How long bob may wait for alice to come back: a ping, its answer, the rejoin."""


@pytest.fixture
def keepalive_stack(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A new server of ``stack``'s mode whose Python side self-pings after ``IDLE`` s."""
    problem = None
    try:
        server = start_stack(
            stack.mode,
            tmp_path_factory.mktemp(f"keepalive-{stack.mode}"),
            side_args=("--keepalive-idle", str(IDLE)),
        )
    except LabError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"a {stack.mode} server with a keep-alive cannot start: {problem}")
    try:
        yield server
    finally:
        stop_stack(server)


def forget(stack: Stack, room: str, nick: str) -> None:
    """Make ``room`` drop its occupant ``nick`` and every session of it, telling no one."""
    occupant = f"{room}/{nick}"
    lua = (
        "> local r = prosody.hosts['" + stack.lab.muc + "'].modules.muc"
        f".get_room_from_jid('{room}'); local o = r:get_occupant_by_nick('{occupant}');"
        " for j in o:each_session() do r._jid_nick[j] = nil end;"
        f" r._occupants['{occupant}'] = nil; print('forgotten')"
    )
    output = stack.shell(lua)
    assert "forgotten" in output, output


def test_the_keepalive_notices_the_room_forgot_the_account(
    keepalive_stack: Stack, room: str
) -> None:
    """XEP-0410 §3.2 with §7.2.14: bob's message while alice was forgotten reaches each
    device once, after the rejoin; the devices never see alice leave; bob's next message
    reaches each device once. Directly, neither device gets either message until it
    notices by itself: its own self-ping is answered ``not-acceptable``.
    """
    stack = keepalive_stack

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            forget(stack, room, "alice")
            r.bob.say(room, "while you were away", "gap")
            if stack.module:
                got = await until(
                    r.bob,
                    lambda s: str(s.from_) == f"{room}/alice" and s.type is None,
                    timeout=REJOIN_TIMEOUT,
                    what="alice joining again",
                )
                assert [str(s.from_) for s in got if s.kind == "presence"][-1:] == [
                    f"{room}/alice"
                ], show(got)
            await r.settle()
            for device in (r.phone, r.laptop):
                got = from_room(device.drain(), room)
                bodies = [(s.id, text_of(s, "body")) for s in messages(got)]
                assert bodies == ([("gap", "while you were away")] if stack.module else []), show(
                    got
                )
                gone = [s for s in got if s.kind == "presence" and s.type == "unavailable"]
                assert gone == [], show(got)
            if not stack.module:
                for device in (r.phone, r.laptop):
                    answer = await device.ask(
                        f"<iq type='get' to='{room}/alice'><ping xmlns='{PING}'/></iq>"
                    )
                    assert error_of(answer) == ("cancel", "not-acceptable"), show([answer])
            r.drain()

            r.bob.say(room, "still there?", "after")
            await r.settle()
            for device in (r.phone, r.laptop):
                got = messages(from_room(device.drain(), room))
                bodies = [(s.id, text_of(s, "body")) for s in got]
                assert bodies == ([("after", "still there?")] if stack.module else []), show(got)

    run(scenario())
