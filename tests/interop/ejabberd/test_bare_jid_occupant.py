"""The premise of this folder: ejabberd's MUC admits a bare JID from a component as occupant.

No router here: a raw XEP-0114 connection sends what the router's first join sends (from
``alice@users.localhost``, no resource) and reads ejabberd's answers as they are. The
other scenarios of this folder rely on everything shown here.
"""

from __future__ import annotations

import asyncio
import hashlib
import xml.etree.ElementTree as ET
from collections import deque
from types import TracebackType

from examples.component import StreamFramer

from minimix_core import JID, Stanza, parse_stanza

from ..harness import (
    MUC,
    MUC_OWNER,
    TIMEOUT,
    body,
    codes,
    is_subject,
    items,
    run,
    show,
    until,
    with_id,
)
from ..lab import Lab
from .ejabberd_muc import is_room_caps, is_room_unavailable

ALICE = "alice@users.localhost"
SID = "urn:xmpp:sid:0"


class RawComponent:
    """A bare XEP-0114 connection: send XML, read every stanza the server sends."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._framer = StreamFramer()
        self._backlog: deque[ET.Element] = deque()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def __str__(self) -> str:
        return f"the raw component {self.lab.component}"

    async def __aenter__(self) -> RawComponent:
        self._reader, self._writer = await asyncio.open_connection(
            "127.0.0.1", self.lab.component_port
        )
        self._writer.write(
            "<stream:stream xmlns='jabber:component:accept'"
            f" xmlns:stream='http://etherx.jabber.org/streams' to='{self.lab.component}'>".encode()
        )
        while self._framer.header is None:
            await self._read_more()
        digest = hashlib.sha1((self._framer.header.get("id", "") + self.lab.secret).encode())
        self._writer.write(f"<handshake>{digest.hexdigest()}</handshake>".encode())
        answer = await self._next()
        assert answer.tag == "{jabber:component:accept}handshake", ET.tostring(answer)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._writer is not None:
            self._writer.write(b"</stream:stream>")
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), TIMEOUT)

    async def _read_more(self) -> None:
        assert self._reader is not None
        data = await asyncio.wait_for(self._reader.read(65536), TIMEOUT)
        if not data:
            raise ConnectionError("ejabberd closed the component connection")
        self._backlog.extend(self._framer.feed(data))

    async def _next(self) -> ET.Element:
        while not self._backlog:
            await self._read_more()
        return self._backlog.popleft()

    def send(self, xml: str) -> None:
        """Send one stanza, written as XML (the default namespace is the component's)."""
        assert self._writer is not None
        self._writer.write(xml.encode())

    async def receive(self, timeout: float | None = TIMEOUT) -> Stanza:
        """The next stanza from the server."""
        element = await asyncio.wait_for(self._next(), timeout)
        return parse_stanza(ET.tostring(element))

    def drain(self) -> list[Stanza]:
        """Stanzas already parsed and not taken (the harness's ``until`` needs it)."""
        out = [parse_stanza(ET.tostring(e)) for e in self._backlog]
        self._backlog.clear()
        return out


def test_muc_admits_a_bare_jid_occupant_from_the_component(lab: Lab, room: str) -> None:
    """Join, configure, talk and leave as ``alice@users.localhost``: ejabberd's answers."""

    async def scenario() -> None:
        async with RawComponent(lab) as component:
            alice = JID.parse(ALICE)
            component.send(
                f"<presence from='{ALICE}' to='{room}/alice' id='j1'><x xmlns='{MUC}'/></presence>"
            )
            got = await until(component, is_subject, what="the end of the join's answer")
            assert all(s.to == alice for s in got), show(got)
            assert len(got) == 3 and is_room_caps(got[0], room), show(got)
            mine = got[1]
            assert mine.from_ == JID.parse(f"{room}/alice") and mine.id == "j1", show(got)
            assert {110, 201} <= codes(mine), show(got)
            assert items(mine) == [{"jid": ALICE, "role": "moderator", "affiliation": "owner"}]
            assert got[2].from_ == JID.parse(room), show(got)  # the (empty) subject

            component.send(
                f"<iq from='{ALICE}' to='{room}' type='set' id='c1'><query xmlns='{MUC_OWNER}'>"
                "<x xmlns='jabber:x:data' type='submit'/></query></iq>"
            )
            got = await until(component, with_id("c1"), what="the instant room's answer")
            assert got[-1].type == "result", show(got)

            component.send(
                f"<message from='{ALICE}' to='{room}' type='groupchat' id='m1'>"
                "<body>hello</body></message>"
            )
            got = await until(component, with_id("m1"), what="the reflection")
            echo = got[-1]
            assert echo.from_ == JID.parse(f"{room}/alice") and echo.to == alice, show(got)
            assert body(echo) == "hello", show(got)
            stanza_id = echo.find(f"{{{SID}}}stanza-id")
            assert stanza_id is not None and stanza_id.get("by") == room, show(got)

            component.send(
                f"<presence from='{ALICE}' to='{room}/alice' type='unavailable' id='l1'/>"
            )
            got = await until(component, with_id("l1"), what="the leave's answer")
            assert len(got) == 2 and is_room_unavailable(got[0], room), show(got)
            assert got[1].type == "unavailable" and 110 in codes(got[1]), show(got)
            assert all(s.to == alice for s in got), show(got)

    run(scenario())
