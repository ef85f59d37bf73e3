"""A minimal asyncio host for minimix_core: an XEP-0114 external component.

The component owns a domain (``users.localhost``); every ``local@domain`` is an account,
and a program attaches client sessions (full JIDs) under those accounts. Rooms see only
the accounts' bare JIDs; :class:`minimix_core.Router` does the rest. The example does
what a real server embedding the library does, in miniature:

* stanzas from the server to an account's bare JID go to the router as ``ToAccount``;
* stanzas from the server to a session's full JID are delivered to that session;
* stanzas a session sends go to the router as ``FromSession``;
* the router's actions are executed in order: ``Send`` writes to the server, ``Deliver``
  hands a stanza to a session, ``Continue`` is this example's tiny "normal routing";
  ``Discard``, ``Archive`` and ``Unattended`` are only logged here (a server would
  archive the message, or send a push notification);
* timers run through ``next_deadline()`` / ``handle_timer(now)``.

Only the standard library and minimix_core are used. The stream is cut into top-level
elements by :class:`xml.etree.ElementTree.XMLPullParser`; each element is serialized
again and handed to :func:`minimix_core.parse_stanza`, so the library's defusedxml edge
is what accepts every stanza. Try it against a server with a component configured
(docs/tutorial.rst has a complete lab configuration for Prosody 0.12)::

    python examples/component.py --secret lab-secret --room lounge@conference.localhost

XEP-0114: https://xmpp.org/extensions/xep-0114.html
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import logging
import os
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

from minimix_core import (
    JID,
    Action,
    Archive,
    Bookmark,
    BookmarksChanged,
    Config,
    Continue,
    Deliver,
    Discard,
    Element,
    Event,
    FromSession,
    Router,
    Send,
    SessionClosed,
    Stanza,
    StanzaParseError,
    ToAccount,
    Unattended,
    parse_stanza,
    serialize,
)

__all__ = ["ComponentHost", "Session", "SessionEnded", "StreamFramer"]

log = logging.getLogger("minimix.component")

COMPONENT_NS: Final = "jabber:component:accept"
STREAMS_NS: Final = "http://etherx.jabber.org/streams"
STANZAS_NS: Final = "urn:ietf:params:xml:ns:xmpp-stanzas"
_HANDSHAKE: Final = f"{{{COMPONENT_NS}}}handshake"
_STREAM_ERROR: Final = f"{{{STREAMS_NS}}}error"
_TEXT: Final = "{urn:ietf:params:xml:ns:xmpp-streams}text"
_CLOSE: Final = b"</stream:stream>"
CONNECT_TIMEOUT: Final = 10.0  # seconds the command line waits for the stream and handshake


class SessionEnded(ConnectionError):
    """The session was closed (by the program or because the connection was lost)."""


class StreamError(ConnectionError):
    """The server ended the stream with ``<stream:error/>`` (RFC 6120 §4.9)."""

    def __init__(self, element: ET.Element) -> None:
        conditions = [child.tag.partition("}")[2] for child in element if child.tag != _TEXT]
        self.condition = conditions[0] if conditions else "undefined-condition"
        self.text = element.findtext(_TEXT) or "no text"
        super().__init__(f"stream error: {self.condition}: {self.text}")


# What a refused handshake most likely means, for the one-line error of ``main``.
_HINTS: Final = {
    "not-authorized": ": --secret must be the component's component_secret",
    "host-unknown": ": the server needs a Component for --domain",
}


class StreamFramer:
    """Cuts an XML stream into its header and its complete top-level elements."""

    def __init__(self) -> None:
        self._parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._root: ET.Element | None = None
        self.header: dict[str, str] | None = None
        """The attributes of ``<stream:stream>`` once it arrived (``id`` is the stream id)."""
        self.closed = False
        """The peer sent ``</stream:stream>``."""

    def feed(self, data: bytes) -> list[ET.Element]:
        """Parse ``data``; return the top-level elements it completed, in order.

        Raises :class:`xml.etree.ElementTree.ParseError` when the stream is not XML.
        """
        self._parser.feed(data)
        complete: list[ET.Element] = []
        for item in self._parser.read_events():
            event, node = item[0], item[-1]
            if not isinstance(node, ET.Element):  # only start and end events are asked for
                continue
            if event == "start":
                self._depth += 1
                if self._depth == 1:
                    self._root = node
                    self.header = dict(node.attrib)
                continue
            self._depth -= 1
            if self._depth == 0:
                self.closed = True
            elif self._depth == 1 and self._root is not None:
                self._root.remove(node)  # keep memory flat: the stream root stays empty
                node.tail = None
                complete.append(node)
        return complete


class Session:
    """A client session attached to the host, as a c2s connection would be in a server.

    Delivered stanzas queue up in order; :meth:`receive` takes the next one.
    """

    def __init__(self, host: ComponentHost, jid: JID) -> None:
        self.jid = jid
        """The session's full JID."""
        self._host = host
        self._inbox: asyncio.Queue[Stanza | None] = asyncio.Queue()
        self.ended = False
        """No more stanzas will be delivered (after those already queued)."""

    def __str__(self) -> str:
        return str(self.jid)

    async def send(self, stanza: Stanza | str) -> None:
        """Send a stanza (a value or XML text) as this session's client would."""
        if self.ended:
            raise SessionEnded(f"{self.jid} is closed")
        if isinstance(stanza, str):
            stanza = parse_stanza(stanza)
        await self._host.from_session(self.jid, stanza)

    async def receive(self, timeout: float | None = 5.0) -> Stanza:
        """The next delivered stanza; ``TimeoutError`` after ``timeout`` seconds.

        Raises :class:`SessionEnded` once the session is closed and its queue is empty.
        """
        item = await asyncio.wait_for(self._inbox.get(), timeout)
        if item is None:
            self._inbox.put_nowait(None)  # every later receive ends the same way
            raise SessionEnded(f"{self.jid} is closed")
        return item

    def drain(self) -> list[Stanza]:
        """Every stanza delivered and not yet received, without waiting."""
        out: list[Stanza] = []
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if item is None:
                self._inbox.put_nowait(None)
                break
            out.append(item)
        return out

    def close(self) -> None:
        """Close the session: the router hears ``SessionClosed``."""
        self._host.close_session(self.jid)

    def _deliver(self, stanza: Stanza) -> None:
        self._inbox.put_nowait(stanza)

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self._inbox.put_nowait(None)


class ComponentHost:
    """An XEP-0114 component that hosts accounts under ``domain`` for minimix_core.

    Use it from a coroutine::

        host = ComponentHost("users.localhost", "secret", port=5347)
        await host.connect()
        phone = host.attach("alice@users.localhost/phone")
        await phone.send("<presence to='room@conference.localhost/alice'>"
                         "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
        self_presence = await phone.receive(timeout=5)
        ...
        await host.close()
    """

    def __init__(
        self,
        domain: str,
        secret: str,
        *,
        server: str = "127.0.0.1",
        port: int = 5347,
        router: Router | None = None,
    ) -> None:
        self.domain = JID.parse(domain).domain
        self.router = router if router is not None else Router(Config())
        self.failures: list[Exception] = []
        """Exceptions raised handling a stanza from the server or a timer (a healthy host
        has none; each was logged, and the host went on)."""
        self._secret = secret
        self._address = (server, port)
        self._sessions: dict[JID, Session] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._framer = StreamFramer()
        self._backlog: collections.deque[ET.Element] = collections.deque()
        self._reading: asyncio.Task[None] | None = None
        self._timing: asyncio.Task[None] | None = None
        self._rearm = asyncio.Event()
        self._closed = asyncio.Event()
        self._last_now = 0.0

    # -- connection ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """The stream to the server is up and authenticated."""
        return self._writer is not None and not self._closed.is_set()

    async def connect(self, timeout: float = 10.0) -> None:
        """Open the stream, authenticate with the handshake, start reading and timers.

        Raises ``ConnectionError`` if the server refuses, ``TimeoutError`` if it is silent.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._handshake()
        except BaseException:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            raise
        log.info("connected to %s:%d as %s", *self._address, self.domain)
        self._reading = asyncio.create_task(self._read_loop())
        self._timing = asyncio.create_task(self._timer_loop())

    async def _handshake(self) -> None:
        """XEP-0114 §3: open the stream, then prove the secret: sha1hex(stream id + secret)."""
        host, port = self._address
        try:
            self._reader, self._writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConnectionError(
                f"cannot connect to {host}:{port} ({reason}): is the server running, with a "
                "component port there (Prosody: component_ports)?"
            ) from exc
        self._writer.write(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept'"
            f" xmlns:stream='{STREAMS_NS}' to={quoteattr(self.domain)}>".encode()
        )
        while self._framer.header is None:
            await self._read_more()
        stream_id = self._framer.header.get("id", "")
        digest = hashlib.sha1((stream_id + self._secret).encode()).hexdigest()
        self._writer.write(f"<handshake>{digest}</handshake>".encode())
        try:
            answer = await self._next_element()
        except StreamError as exc:
            hint = _HINTS.get(exc.condition, "")
            raise ConnectionError(
                f"the server refused {self.domain} ({exc.condition}: {exc.text}){hint}"
            ) from exc
        if answer.tag != _HANDSHAKE:
            raise ConnectionError(f"handshake refused: {ET.tostring(answer, encoding='unicode')}")

    async def close(self, timeout: float = 5.0, *, leave_rooms: bool = True) -> None:
        """Orderly shutdown: leave every room, close the stream, wait for the server.

        ``leave_rooms=False`` is a restart instead: the router keeps its state for
        :meth:`snapshot`, and the rooms keep the account as an occupant until a router
        restored from that snapshot (``Router.restore``) rejoins or leaves them.
        """
        if self.connected:
            if leave_rooms:
                # A component that just disconnects leaves a ghost occupant behind: the
                # room notices nothing until a stanza to it bounces.
                self._execute(self.router.shutdown(self._now()), sender=None)
            self._end_sessions()
            assert self._writer is not None
            self._writer.write(_CLOSE)
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.drain(), timeout)
                await asyncio.wait_for(self._closed.wait(), timeout)  # the server's </stream>
        await self._stop()

    async def wait_closed(self) -> None:
        """Wait until the connection is over, by :meth:`close` or by its loss."""
        await self._closed.wait()

    def snapshot(self) -> dict[str, Any]:
        """The router's state (JSON-safe), for ``Router.restore`` after a restart.

        A restart looks like this::

            state = host.snapshot()
            await host.close(leave_rooms=False)
            ...
            router = Router.restore(state, now=time.time())
            host = ComponentHost(domain, secret, router=router)
        """
        return self.router.snapshot()

    # -- sessions -----------------------------------------------------------------

    def attach(self, jid: JID | str) -> Session:
        """Attach a client session (a full JID under this component's domain)."""
        jid = JID.parse(jid) if isinstance(jid, str) else jid
        if jid.is_bare or jid.local is None or jid.domain != self.domain:
            raise ValueError(f"{jid} is not a session of an account of {self.domain}")
        if jid in self._sessions:
            raise ValueError(f"{jid} is already attached")
        session = self._sessions[jid] = Session(self, jid)
        return session

    def close_session(self, jid: JID | str) -> None:
        """The session ended for good: tell the router (``SessionClosed``), then forget it."""
        jid = JID.parse(jid) if isinstance(jid, str) else jid
        session = self._sessions.pop(jid, None)
        if session is None:
            return
        self._handle(SessionClosed(session=jid), sender=None)
        session._end()

    def bookmarks_changed(self, account: JID | str, bookmarks: Iterable[Bookmark]) -> None:
        """The account's complete set of XEP-0402 bookmarks is now ``bookmarks``.

        A server reads them from the account's PEP node; autojoin ones keep the account
        in its rooms while no session is there.
        """
        jid = JID.parse(account) if isinstance(account, str) else account
        self._handle(BookmarksChanged(account=jid, bookmarks=tuple(bookmarks)), sender=None)

    async def from_session(self, jid: JID, stanza: Stanza) -> None:
        """Route a stanza an attached session sent (``FromSession``)."""
        if jid not in self._sessions:
            raise SessionEnded(f"{jid} is not attached")
        self._handle(FromSession(session=jid, stanza=stanza), sender=jid)
        if self._writer is not None and self.connected:
            await self._writer.drain()

    # -- the router and its actions -------------------------------------------------

    def _now(self) -> float:
        # The router refuses time going back; a wall clock can (NTP), so never let it.
        self._last_now = max(self._last_now, time.time())
        return self._last_now

    def _handle(self, event: Event, sender: JID | None) -> None:
        actions = self.router.handle(event, now=self._now())
        self._rearm.set()  # the next deadline may have moved
        self._execute(actions, sender)

    def _execute(self, actions: list[Action], sender: JID | None) -> None:
        """Carry out the router's actions in order; ``sender`` is the session, if any."""
        for action in actions:
            if isinstance(action, Send):
                self._write(action.stanza)
            elif isinstance(action, Deliver):
                self._deliver(action.session, action.stanza)
            elif isinstance(action, Continue):
                self._route(action.stanza, sender)
            elif isinstance(action, Discard):
                log.info("discarded (%s): %s", action.reason, serialize(action.stanza))
            elif isinstance(action, Archive):
                # A server stores it once in the account's own archive (XEP-0313).
                log.debug("to %s's archive: %s", action.account, action.stanza.id)
            elif isinstance(action, Unattended):
                # A server sends a push notification (XEP-0357) here.
                mention = " (mentions the account)" if action.mentions else ""
                log.info("no session of %s in %s%s", action.account, action.room, mention)
            else:  # a newer router's action this example does not know yet
                log.warning("unknown action %r", action)

    def _route(self, stanza: Stanza, sender: JID | None) -> None:
        """The example's minimal "normal routing" of a stanza the router left alone."""
        if sender is not None:
            stanza = stanza.with_from(sender)  # a server stamps what a session sends
        to = stanza.to
        if to is None or to == JID(None, self.domain):
            self._refuse(stanza, "service-unavailable")  # no server features here
        elif to.domain != self.domain:
            self._write(stanza)
        elif not to.is_bare:
            self._deliver(to, stanza)
        elif stanza.kind == "iq" or stanza.type == "groupchat":
            # Nobody answers IQs for accounts; and no resource takes a groupchat message to
            # a bare JID (RFC 6121 §8.5.2.1.1): refused, it tells a room that still counts
            # the account (with no occupancy in the router) to drop it.
            self._refuse(stanza, "service-unavailable")
        else:
            # A message or presence to an account: every session of it gets a copy.
            for jid, session in self._sessions.items():
                if jid.bare == to:
                    session._deliver(stanza)

    def _deliver(self, jid: JID, stanza: Stanza) -> None:
        session = self._sessions.get(jid)
        if session is not None:
            session._deliver(stanza)
        elif stanza.kind == "iq":
            self._refuse(stanza, "service-unavailable")
        else:
            # Never bounce a message or presence: a room kicks an account for that.
            log.info("no session %s; dropped: %s", jid, serialize(stanza))

    def _refuse(self, stanza: Stanza, condition: str) -> None:
        """Answer an IQ request or a groupchat message with an error; drop anything else.

        RFC 6120 §8.3; never an error to an error (§8.3.1), so never a loop.
        """
        answered = ("get", "set") if stanza.kind == "iq" else ("groupchat",)
        if stanza.type not in answered or stanza.from_ is None:
            log.info("dropped: %s", serialize(stanza))
            return
        error = Element(
            "{jabber:client}error",
            (("type", "cancel"),),
            (Element(f"{{{STANZAS_NS}}}{condition}"),),
        )
        reply = Stanza(
            stanza.kind,
            type="error",
            from_=stanza.to,
            to=stanza.from_,
            id=stanza.id,
            children=(error,),
        )
        if reply.to is not None and reply.to.domain == self.domain:
            self._deliver(reply.to, reply)
        else:
            self._write(reply)

    def _write(self, stanza: Stanza) -> None:
        if self._writer is None or not self.connected:
            log.warning("not connected; dropped: %s", serialize(stanza))
            return
        self._writer.write(serialize(stanza).encode())

    # -- reading --------------------------------------------------------------------

    async def _read_more(self) -> None:
        assert self._reader is not None
        data = await self._reader.read(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self._backlog.extend(self._framer.feed(data))

    async def _next_element(self) -> ET.Element:
        while not self._backlog:
            if self._framer.closed:
                raise ConnectionError("the server closed the stream")
            await self._read_more()
        element = self._backlog.popleft()
        if element.tag == _STREAM_ERROR:
            raise StreamError(element)
        return element

    async def _read_loop(self) -> None:
        reason = "the server closed the stream"
        try:
            while True:
                self._from_server(await self._next_element())
                if self._writer is not None and not self._backlog:
                    await self._writer.drain()
        except (OSError, ET.ParseError) as exc:  # ConnectionError is an OSError
            reason = str(exc)
        finally:
            self._lost(reason)

    def _from_server(self, element: ET.Element) -> None:
        """Route one top-level element the server sent."""
        try:
            stanza = parse_stanza(ET.tostring(element))
        except StanzaParseError as exc:
            log.warning("refused from the server: %s", exc)
            return
        to = stanza.to
        try:
            if to is None or to.domain != self.domain:
                log.info("not for %s; dropped: %s", self.domain, serialize(stanza))
            elif to.local is None:
                self._refuse(stanza, "service-unavailable")  # the component's own address
            elif to.is_bare:
                self._handle(ToAccount(stanza=stanza), sender=None)
            else:
                self._deliver(to, stanza)
        except Exception as exc:  # one stanza's failure must not take the stream down
            log.exception("failed to handle %s", serialize(stanza))
            self.failures.append(exc)

    def _lost(self, reason: str) -> None:
        """The stream is over: every session ends; the router's state stays as it was.

        After a loss nothing can be sent: the rooms keep the account as a ghost occupant
        until they notice. A host that reconnects restores :meth:`snapshot` into its new
        router, which then rejoins or leaves each room.
        """
        if self._closed.is_set():
            return
        self._closed.set()
        log.info("disconnected: %s", reason)
        self._end_sessions()
        if self._timing is not None:
            self._timing.cancel()  # the reader ends by itself

    def _end_sessions(self) -> None:
        """End every session locally, without telling the router."""
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            session._end()

    async def _stop(self) -> None:
        self._lost("closed")
        tasks = [t for t in (self._reading, self._timing) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    # -- timers ---------------------------------------------------------------------

    async def _timer_loop(self) -> None:
        """Call ``handle_timer(now)`` whenever the router's next deadline is due."""
        while True:
            deadline = self.router.next_deadline()
            delay = None if deadline is None else max(0.0, deadline - time.time())
            self._rearm.clear()
            try:
                await asyncio.wait_for(self._rearm.wait(), delay)
            except TimeoutError:
                try:
                    self._execute(self.router.handle_timer(self._now()), sender=None)
                except Exception as exc:  # a bug must not stop every later timer
                    log.exception("a timer failed")
                    self.failures.append(exc)
                if self._writer is not None and self.connected:
                    await self._writer.drain()


async def _demo(args: argparse.Namespace) -> None:
    host = ComponentHost(args.domain, args.secret, server=args.server, port=args.port)
    await host.connect(CONNECT_TIMEOUT)
    sessions = [host.attach(f"{args.account}/{resource}") for resource in ("phone", "laptop")]
    for session in sessions:
        await session.send(
            f"<presence to={quoteattr(f'{args.room}/{args.nick}')} id='join'>"
            "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
        )
    await sessions[0].send(
        f"<message to={quoteattr(args.room)} type='groupchat' id='hello'>"
        f"<body>{escape('hello from two sessions, one occupant')}</body></message>"
    )

    async def show(session: Session) -> None:
        while True:
            stanza = await session.receive(timeout=None)
            print(f"{session.jid.resource}: {serialize(stanza)}")

    watchers = [asyncio.create_task(show(session)) for session in sessions]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(host.wait_closed(), args.seconds)
    await host.close()
    await asyncio.gather(*watchers, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    """Join a room with two sessions of one account, print what they get, then leave."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--server", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5347)
    parser.add_argument("--domain", default="users.localhost")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--account", default="alice@users.localhost")
    parser.add_argument("--room", required=True, help="a room's bare JID")
    parser.add_argument("--nick", default="alice")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:  # a failure to connect is one line and status 1: the cause, not a traceback
        asyncio.run(_demo(args))
    except ConnectionError as exc:
        print(f"component: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(
            f"component: no stream from {args.server}:{args.port} within {CONNECT_TIMEOUT:g} s: "
            "is that the server's component port?",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130  # interrupted: the rooms see the account vanish, as with any crash
    return 0


if __name__ == "__main__":
    sys.exit(main())
