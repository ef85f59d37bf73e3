"""A smoke run by hand: two devices of one account in a room through mod_account_occupancy.

Starts the lab (``lab.py``), connects ``alice/phone``, ``alice/laptop``, ``bob`` and
``carol`` (on a host without the module) with slixmpp's XEP-0045 plugin, has all of them
join ``smoke@conference.localhost``, lets bob say something and checks that every device
saw it exactly once. Then it stops the Python side, lets carol speak, checks that nothing
reached alice's or bob's devices meanwhile, starts the Python side again and checks that
carol's message arrived exactly once on each device after all. Nobody may be kicked.
Everyone leaves, and the lab stops. Exit status 0 when all of that held::

    .venv/bin/python hosts/prosody/smoke.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import lab as lab_module
import slixmpp  # type: ignore[import-not-found, unused-ignore]

ROOM = "smoke@conference.localhost"
TIMEOUT = 10.0


class Device:
    """One slixmpp client with the XEP-0045 plugin; records what the room sent it."""

    def __init__(self, jid: str, password: str) -> None:
        self.jid = jid
        self.client: Any = slixmpp.ClientXMPP(
            jid, password, plugin_config={"feature_mechanisms": {"unencrypted_plain": True}}
        )
        self.client.enable_direct_tls = False
        self.client.enable_starttls = False
        self.client.enable_plaintext = True
        self.client.register_plugin("xep_0045")
        self.groupchat: list[str] = []
        self.codes: list[str] = []
        self.client.add_event_handler("groupchat_message", self._message)
        self.client.add_event_handler(f"muc::{ROOM}::presence", self._presence)

    def _message(self, message: Any) -> None:
        if message["body"]:
            self.groupchat.append(f"{message['mucnick']}: {message['body']}")

    def _presence(self, presence: Any) -> None:
        self.codes += [str(code) for code in presence["muc"]["status_codes"]]

    async def connect(self, port: int) -> None:
        """Connect to 127.0.0.1:``port`` without TLS, authenticate, send initial presence."""
        started = asyncio.get_running_loop().create_future()
        self.client.add_event_handler("session_start", lambda _: started.set_result(None))
        self.client.connect("127.0.0.1", port)
        await asyncio.wait_for(started, TIMEOUT)
        self.client.send_presence()

    async def join(self, nick: str) -> None:
        """Join the room as ``nick`` (XEP-0045 §7.2) and wait for the self-presence."""
        muc = self.client.plugin["xep_0045"]
        await muc.join_muc_wait(ROOM, nick, maxstanzas=0, timeout=TIMEOUT)

    def leave(self, nick: str) -> None:
        """Leave the room (XEP-0045 §7.14)."""
        self.client.plugin["xep_0045"].leave_muc(ROOM, nick)

    async def disconnect(self) -> None:
        """Close the stream."""
        await self.client.disconnect(wait=2.0)


def _seen(devices: tuple[Device, ...], line: str, problems: list[str]) -> None:
    for device in devices:
        seen = device.groupchat.count(line)
        if seen != 1:
            problems.append(f"{device.jid} saw {line!r} {seen} times")


async def scenario(lab: lab_module.Lab) -> list[str]:
    """The smoke run; the list of what went wrong (empty: all well)."""
    phone = Device("alice@localhost/phone", "alice-pw")
    laptop = Device("alice@localhost/laptop", "alice-pw")
    bob = Device("bob@localhost/desk", "bob-pw")
    carol = Device("carol@plain.localhost/pc", "carol-pw")  # a host without the module
    devices = (phone, laptop, bob, carol)
    for device in devices:
        await device.connect(lab.c2s_port)
    await phone.join("alice")
    await laptop.join("alice")
    await bob.join("bob")
    await carol.join("carol")
    bob.client.send_message(mto=ROOM, mbody="hello, alice", mtype="groupchat")
    await asyncio.sleep(1.0)  # a hand-run smoke test: time for the message to reach all
    problems: list[str] = []
    _seen((phone, laptop, bob, carol), "bob: hello, alice", problems)

    # The Python side goes away; the module keeps room traffic to alice and bob for it.
    lab_module.stop_pid(lab.bridge_pid)
    carol.client.send_message(mto=ROOM, mbody="while you were away", mtype="groupchat")
    await asyncio.sleep(1.0)
    if any("carol: while you were away" in d.groupchat for d in (phone, laptop, bob)):
        problems.append("a message reached a device while the Python side was down")
    restarted = lab_module.start_bridge(lab.folder, lab.component_port, lab.secret)
    try:
        await asyncio.sleep(3.0)  # it reconnects (--retry 0.5), restores, hears hello, replays
        _seen((phone, laptop, bob, carol), "carol: while you were away", problems)
        phone.client.send_message(mto=ROOM, mbody="back", mtype="groupchat")
        await asyncio.sleep(1.0)
        _seen((laptop, bob, carol), "alice: back", problems)
        problems += await _finish(devices)
    finally:
        lab_module.stop_pid(restarted)
    return problems


async def _finish(devices: tuple[Device, ...]) -> list[str]:
    """Nobody was removed from the room; everyone leaves and disconnects."""
    phone, laptop, bob, carol = devices
    problems: list[str] = []
    for device in devices:
        print(f"{device.jid}: groupchat {device.groupchat}, status codes {device.codes}")
    for device in devices:
        if {"307", "333", "301"} & set(device.codes):
            problems.append(f"{device.jid} was removed from the room: {device.codes}")
    phone.leave("alice")
    laptop.leave("alice")
    bob.leave("bob")
    carol.leave("carol")
    await asyncio.sleep(0.5)
    for device in devices:
        await device.disconnect()
    return problems


def main() -> None:
    """Start the lab, run the scenario, stop the lab; exit 1 on a problem."""
    folder = Path(tempfile.mkdtemp(prefix="minimix-smoke-"))
    lab = lab_module.start(folder)
    try:
        problems = asyncio.run(asyncio.wait_for(scenario(lab), 60))
    finally:
        lab_module.stop(lab)
    print(f"logs in {folder}")
    for problem in problems:
        print("PROBLEM:", problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
