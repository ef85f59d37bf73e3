"""A smoke run by hand: two devices of one account in a room through mod_account_occupancy.

Starts the lab (``lab.py``), connects ``alice/phone``, ``alice/laptop``, ``bob`` and
``carol`` (on a host without the module) with slixmpp's XEP-0045 plugin, has all of them
join ``smoke@conference.localhost``, lets bob say something and checks that every device
saw it exactly once. Then it stops the Python side, lets carol speak, checks that nothing
reached alice's or bob's devices meanwhile, starts the Python side again and checks that
carol's message arrived exactly once on each device after all. An autojoin bookmark must
put alice in a second room, where a message with no device of hers present is archived.
Alice's own archive (MAM) must hold each room message once. Nobody may be kicked.
Everyone leaves, and the lab stops. Exit status 0 when all of that held::

    .venv/bin/python hosts/prosody/smoke.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import lab as lab_module
import slixmpp  # type: ignore[import-not-found, unused-ignore]
from slixmpp.xmlstream.handler import Callback  # type: ignore[import-not-found, unused-ignore]
from slixmpp.xmlstream.matcher import MatchXPath  # type: ignore[import-not-found, unused-ignore]

ROOM = "smoke@conference.localhost"
AUTO_ROOM = "autojoin@conference.localhost"
BOOKMARKS = "urn:xmpp:bookmarks:1"
TIMEOUT = 10.0
MAM = "urn:xmpp:mam:2"
FORWARD = "urn:xmpp:forward:0"
CLIENT = "jabber:client"


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
        self.online: dict[str, list[str]] = {}
        self.client.add_event_handler(f"muc::{AUTO_ROOM}::got_online", self._online)

    def _online(self, presence: Any) -> None:
        self.online.setdefault(AUTO_ROOM, []).append(str(presence["muc"]["nick"]))

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

    async def join(self, nick: str, room: str = ROOM) -> None:
        """Join ``room`` as ``nick`` (XEP-0045 §7.2) and wait for the self-presence."""
        muc = self.client.plugin["xep_0045"]
        await muc.join_muc_wait(room, nick, maxstanzas=0, timeout=TIMEOUT)

    async def publish_bookmark(self, room: str, nick: str) -> None:
        """Publish an autojoin bookmark (XEP-0402 §3)."""
        iq = self.client.make_iq_set()
        pubsub = ET.SubElement(iq.xml, "{http://jabber.org/protocol/pubsub}pubsub")
        publish = ET.SubElement(pubsub, "{http://jabber.org/protocol/pubsub}publish")
        publish.set("node", BOOKMARKS)
        item = ET.SubElement(publish, "{http://jabber.org/protocol/pubsub}item", {"id": room})
        conference = ET.SubElement(item, f"{{{BOOKMARKS}}}conference", {"autojoin": "true"})
        ET.SubElement(conference, f"{{{BOOKMARKS}}}nick").text = nick
        await iq.send(timeout=TIMEOUT)

    async def archived_bodies(self) -> list[str]:
        """The bodies of every message in the account's own archive (XEP-0313 §4)."""
        iq = self.client.make_iq_set()
        iq.append(ET.Element(f"{{{MAM}}}query", {"queryid": "smoke"}))
        bodies: list[str] = []

        def found(message: Any) -> None:
            path = f"{{{MAM}}}result/{{{FORWARD}}}forwarded/{{{CLIENT}}}message/{{{CLIENT}}}body"
            body = message.xml.find(path)
            if body is not None and body.text:
                bodies.append(body.text)

        self.client.register_handler(
            Callback("smoke-mam", MatchXPath(f"{{jabber:client}}message/{{{MAM}}}result"), found)
        )
        await iq.send(timeout=TIMEOUT)
        self.client.remove_handler("smoke-mam")
        return bodies

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
    problems: list[str] = []
    # An autojoin bookmark (XEP-0402) puts the account in a room no device joined.
    await carol.join("carol", AUTO_ROOM)
    await phone.publish_bookmark(AUTO_ROOM, "alice")
    await asyncio.sleep(2.0)  # the router spreads autojoins out (Config.autojoin_interval)
    if "alice" not in carol.online.get(AUTO_ROOM, []):
        problems.append(f"the autojoin bookmark did not put alice in {AUTO_ROOM}")
    # No device of alice is in that room: the message is archived (and unattended).
    carol.client.send_message(mto=AUTO_ROOM, mbody="alice, are you there?", mtype="groupchat")
    bob.client.send_message(mto=ROOM, mbody="hello, alice", mtype="groupchat")
    await asyncio.sleep(1.0)  # a hand-run smoke test: time for the message to reach all
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
        archived = await laptop.archived_bodies()
        print(f"alice's own archive (MAM): {archived}")
        for body in ("hello, alice", "while you were away", "back", "alice, are you there?"):
            if archived.count(body) != 1:
                problems.append(f"alice's archive holds {body!r} {archived.count(body)} times")
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
