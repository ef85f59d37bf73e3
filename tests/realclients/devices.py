"""The real-client tier's devices: slixmpp clients with their XEP-0045 plugin, as a user runs them.

A :class:`Device` is :class:`tests.interop.harness.Occupant` (raw stanzas parsed into
:class:`minimix_core.Stanza` values, bounded waits) with the plugins a current client
loads: disco, MUC, ping, carbons, MAM, stream management and PEP bookmarks. Joins go
through the MUC plugin (``join_muc_wait``), as a client would join; tests read what arrived
from the device's inbox, in order.

:func:`settle` is the tier's only synchronisation, and it does not sleep: every device asks
the room for its disco#info and waits for the answer, twice over. A server handles one
connection's stanzas in order, and the question of an attached device takes the same path as
the room's traffic to it (through the module's Python side too). The first round proves
that the room has handled everything each device sent before; it proves nothing about what
one device gets from another's earlier stanza, since the two connections race to the room
(bob's question may reach it before the phone's message). The second round's questions
reach the room after all of that, so their answers come after everything it caused.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from slixmpp import JID as SlixJID  # type: ignore[import-not-found, unused-ignore]
from slixmpp.xmlstream import ET  # type: ignore[import-not-found, unused-ignore]

from interop.harness import (
    DISCO_INFO,
    MUC,
    TIMEOUT,
    Occupant,
    codes,
    is_subject,
    items,
    show,
    until,
)
from minimix_core import Element, Stanza

PLUGINS = ("xep_0030", "xep_0045", "xep_0199", "xep_0280", "xep_0313", "xep_0198", "xep_0402")
"""What a current desktop or mobile client loads for group chat."""
MAM = "urn:xmpp:mam:2"
BOOKMARKS = "urn:xmpp:bookmarks:1"
PUBSUB = "http://jabber.org/protocol/pubsub"
CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"

_pm_ids = itertools.count(1)


class Device(Occupant):
    """One client session ``user@localhost/resource``: a phone, a laptop, bob's desktop."""

    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password)
        for plugin in PLUGINS:
            self._client.register_plugin(plugin)
        self.client = self._client
        """The slixmpp ``ClientXMPP`` itself, for what the plugins offer."""

    def send(self, xml: str) -> None:
        """Send a stanza written as XML, counted by stream management (XEP-0198 §4)."""
        wrapper = ET.fromstring(f"<w xmlns='jabber:client'>{xml}</w>")
        self.client.send(self.client._build_stanza(wrapper[0], "jabber:client"))

    async def start(self, port: int, *, carbons: bool = True) -> None:
        """Connect, bind, send initial presence and (by default) enable carbons (XEP-0280 §4)."""
        await self.connect(port)
        if carbons:
            await self.iq(f"<iq type='set'><enable xmlns='{CARBONS}'/></iq>")

    def drop(self) -> None:
        """Lose the connection without closing the stream, as a phone going out of coverage."""
        self.client.abort()

    async def resume(self, port: int) -> None:
        """Connect again and resume the stream (XEP-0198 §5); fail if the server refuses."""
        resumed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_resumed(_: object) -> None:
            if not resumed.done():
                resumed.set_result(None)

        def on_start(_: object) -> None:
            if not resumed.done():
                resumed.set_exception(AssertionError(f"{self}: a new session, not resumed"))

        self.client.add_event_handler("session_resumed", on_resumed)
        self.client.add_event_handler("session_start", on_start)
        self.client.connect("127.0.0.1", port)
        try:
            await asyncio.wait_for(resumed, TIMEOUT)
        finally:
            self.client.del_event_handler("session_resumed", on_resumed)
            self.client.del_event_handler("session_start", on_start)

    async def join(self, room: str, nick: str, **history: Any) -> list[Stanza]:
        """Join through the MUC plugin (§7.2); every stanza up to the subject, in order.

        ``history`` goes to ``join_muc_wait`` (``maxstanzas=0`` and the like, §7.2.15).
        """
        muc = self.client.plugin["xep_0045"]
        await muc.join_muc_wait(SlixJID(room), nick, timeout=TIMEOUT, **history)
        return await until(self, is_subject, what="the subject that ends a join")

    async def leave(self, room: str, nick: str, status: str | None = None) -> list[Stanza]:
        """Leave (§7.14); every stanza up to the unavailable self-presence (110)."""
        extra = f"<status>{status}</status>" if status else ""
        self.send(f"<presence to='{room}/{nick}' type='unavailable'>{extra}</presence>")
        return await until(
            self,
            lambda s: s.kind == "presence" and s.type == "unavailable" and 110 in codes(s),
            what="its own unavailable",
        )

    def say(self, room: str, text: str, message_id: str) -> None:
        """A groupchat message (§7.4) with the given id."""
        self.send(
            f"<message to='{room}' type='groupchat' id='{message_id}'><body>{text}</body></message>"
        )

    async def archive(self, to: str | None = None, with_: str | None = None) -> list[Stanza]:
        """Every MAM result (XEP-0313 §4) of the archive at ``to`` (one's own by default)."""
        query_id = f"q{next(_pm_ids)}"
        where = f" to='{to}'" if to else ""
        form = ""
        if with_:
            form = (
                "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
                f"<value>{MAM}</value></field><field var='with'><value>{with_}</value></field></x>"
            )
        await self.iq(
            f"<iq type='set'{where}><query xmlns='{MAM}' queryid='{query_id}'>{form}</query></iq>"
        )
        results: list[Stanza] = []
        for stanza in self.drain():
            result = stanza.find(f"{{{MAM}}}result")
            if result is not None and result.get("queryid") == query_id:
                results.append(stanza)
            else:
                self._queue.put_nowait(stanza)  # not ours: leave it for the test
        return results

    async def bookmark(self, room: str, nick: str, *, autojoin: bool) -> None:
        """Publish a XEP-0402 bookmark for ``room`` (§3.2, with the publish-options of §4)."""
        await self.iq(
            f"<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{BOOKMARKS}'>"
            f"<item id='{room}'><conference xmlns='{BOOKMARKS}' "
            f"autojoin='{'true' if autojoin else 'false'}'><nick>{nick}</nick></conference>"
            "</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>"
            "<field var='FORM_TYPE' type='hidden'>"
            "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            "<field var='pubsub#persist_items'><value>true</value></field>"
            "<field var='pubsub#access_model'><value>whitelist</value></field>"
            "</x></publish-options></pubsub></iq>"
        )

    async def unbookmark(self, room: str) -> None:
        """Retract the XEP-0402 bookmark of ``room`` (§3.4)."""
        await self.iq(
            f"<iq type='set'><pubsub xmlns='{PUBSUB}'><retract node='{BOOKMARKS}' notify='true'>"
            f"<item id='{room}'/></retract></pubsub></iq>"
        )


async def settle(room: str, *devices: Device) -> None:
    """Wait until what ``devices`` sent so far, and what it caused, reached them (module doc)."""
    for _ in range(2):
        for device in devices:
            await device.iq(f"<iq type='get' to='{room}'><query xmlns='{DISCO_INFO}'/></iq>")


def messages(stanzas: Iterable[Stanza]) -> list[Stanza]:
    """The messages among ``stanzas``."""
    return [s for s in stanzas if s.kind == "message"]


def from_room(stanzas: Iterable[Stanza], room: str) -> list[Stanza]:
    """The stanzas among ``stanzas`` that come from ``room`` or one of its occupants.

    A device's inbox also holds its own account's presences (RFC 6121 §4.2.2); these are
    not the room's business.
    """
    return [s for s in stanzas if s.from_ is not None and str(s.from_.bare) == room]


def forwarded(stanza: Stanza, wrapper: str) -> Element | None:
    """The message forwarded (XEP-0297) inside ``stanza``'s ``wrapper`` child.

    ``wrapper`` is a Clark name: a MAM ``result`` (XEP-0313 §4.2) or a carbon's ``sent`` or
    ``received`` (XEP-0280 §6).
    """
    outer = stanza.find(wrapper)
    forward = None if outer is None else outer.find(f"{{{FORWARD}}}forwarded")
    return None if forward is None else forward.find("{jabber:client}message")


def text_of(element: Element | Stanza | None, tag: str) -> str | None:
    """The text of ``element``'s first ``tag`` child (``jabber:client`` names), or ``None``."""
    child = None if element is None else element.find(tag)
    return None if child is None else (child.text or "")


def jids(stanza: Stanza) -> list[str]:
    """The real JIDs (``jid`` attributes, '' where hidden) of a muc#user presence's items.

    Sorted: Prosody lists a multi-session occupant's items in its table's order.
    """
    return sorted(item.get("jid") or "" for item in items(stanza))


class Clients:
    """The devices of one scenario, connected to one server; all disconnected at the end."""

    def __init__(self, port: int, passwords: dict[str, str], domain: str) -> None:
        self.port = port
        self.passwords = passwords
        self.domain = domain
        self.devices: list[Device] = []

    async def connect(self, user: str, resource: str, *, carbons: bool = True) -> Device:
        """A new device ``user@domain/resource`` (or ``user`` is ``name@host``), online.

        Carbons are enabled unless ``carbons`` is false.
        """
        bare = user if "@" in user else f"{user}@{self.domain}"
        device = Device(f"{bare}/{resource}", self.passwords[user])
        self.devices.append(device)
        await device.start(self.port, carbons=carbons)
        return device

    async def close(self) -> None:
        """Disconnect every device still connected (a clean ``</stream>``)."""
        for device in self.devices:
            await device.disconnect()
        self.devices.clear()


@asynccontextmanager
async def clients(port: int, passwords: dict[str, str], domain: str) -> AsyncIterator[Clients]:
    """Devices on ``127.0.0.1:port``; every one is disconnected after the block."""
    group = Clients(port, passwords, domain)
    try:
        yield group
    finally:
        await group.close()


__all__ = [
    "BOOKMARKS",
    "CARBONS",
    "FORWARD",
    "MAM",
    "MUC",
    "Clients",
    "Device",
    "clients",
    "forwarded",
    "from_room",
    "jids",
    "messages",
    "settle",
    "show",
    "text_of",
]
