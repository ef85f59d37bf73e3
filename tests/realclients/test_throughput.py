"""Throughput: bob sends 2,000 groupchat messages to a room where alice has two devices.

What is asserted is delivery: every device gets every message, once, in bob's order, in
both modes. The cost (CPU seconds of Prosody and the Python side from ``/proc``, and wall
time) is only recorded: ``conftest.py`` prints the module/direct ratios at the end of the
run and writes them where ``--figures`` says (``realclients.py`` passes
``docs/realclients-figures.md``).
"""

from __future__ import annotations

import time

from interop.harness import body, run, show, until, with_id

from .devices import clients, from_room, messages
from .scenes import full_room
from .stack import Stack, cpu_seconds

COUNT = 2000
"""Messages bob sends."""
TIMEOUT = 400.0
"""Bound on the whole run of one mode. Unloaded, two cores need well under a minute; the
bound is for a shared machine, where other work can slow every process tenfold."""


def test_two_thousand_messages_reach_both_devices_once_each(
    fresh_stack: Stack, room: str, figures: dict[str, dict[str, float]]
) -> None:
    """Every message reaches phone and laptop exactly once, in order; the cost is recorded.

    On a server of its own: through the module, the router's other rooms and accounts
    (what the other scenarios leave behind) make each message dearer.
    """
    stack = fresh_stack

    async def scenario() -> None:
        async with clients(stack.lab.c2s_port, dict(stack.lab.users), stack.lab.domain) as c:
            r = await full_room(c, room)
            cpu_before = [cpu_seconds(pid) for pid in stack.pids]
            started = time.perf_counter()
            for n in range(1, COUNT + 1):
                r.bob.say(room, f"message {n}", f"t{n}")
            received = {}
            for device in (r.phone, r.laptop):
                received[device] = await until(
                    device, with_id(f"t{COUNT}"), timeout=TIMEOUT - 60, what="the last message"
                )
            wall = time.perf_counter() - started
            spent = [cpu_seconds(pid) - b for pid, b in zip(stack.pids, cpu_before, strict=True)]
            cpu = sum(spent)
            await r.settle()

            expected = [(f"t{n}", f"message {n}") for n in range(1, COUNT + 1)]
            for device, until_last in received.items():
                got = messages(from_room([*until_last, *device.drain()], room))
                ids = [(s.id, body(s)) for s in got]
                assert ids == expected, f"{device}: {len(ids)} messages\n{show(got[:5])}"
            figures[stack.mode] = {
                "wall_s": wall,
                "cpu_s": cpu,
                "prosody_cpu_s": spent[0],
                "python_side_cpu_s": sum(spent[1:]),
                "per_message_ms": 1000 * cpu / COUNT,
                "messages_per_device": float(COUNT),
            }

    run(scenario(), timeout=TIMEOUT)
