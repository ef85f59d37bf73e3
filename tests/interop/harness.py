"""The interop tier's actors: real c2s occupants (slixmpp) and the example component host.

Every wait here is bounded. Both sides hand back :class:`minimix_core.Stanza` values
(slixmpp's stanzas are parsed again with :func:`minimix_core.parse_stanza`), so tests read
what a simulated session got and what a real occupant saw the same way.

Synchronisation does not sleep: :meth:`World.sync` sends an IQ to the MUC service through
the component and waits for the answer, then does the same from each c2s occupant, and
then all of that once more. A server handles a connection's stanzas in order, but the
connections race one another: the first round proves that the server has handled what
each of them sent, and the second round's answers come after everything that caused, so
:meth:`drain` sees it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any, Protocol, TypeVar

# slixmpp is a test dependency of this tier only; the ignores keep `mypy` quiet where it is
# not installed (and unused where it is).
import slixmpp  # type: ignore[import-not-found, unused-ignore]
from examples.component import ComponentHost, Session
from slixmpp.xmlstream.handler import Callback  # type: ignore[import-not-found, unused-ignore]
from slixmpp.xmlstream.matcher import MatchXPath  # type: ignore[import-not-found, unused-ignore]
from slixmpp.xmlstream.stanzabase import (  # type: ignore[import-not-found, unused-ignore]
    StanzaBase,
)

from minimix_core import JID, Action, Config, Event, Router, Send, Stanza, parse_stanza, serialize

from .lab import Lab

T = TypeVar("T")
TIMEOUT = 10.0
"""Longest wait for one expected stanza; a healthy local Prosody answers in milliseconds."""
SCENARIO_TIMEOUT = 90.0
"""Longest one scenario may take in all."""

MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DISCO_INFO = "http://jabber.org/protocol/disco#info"

_ids = itertools.count(1)


def run(scenario: Coroutine[Any, Any, T], timeout: float = SCENARIO_TIMEOUT) -> T:
    """Run one scenario on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))


def new_id(prefix: str = "t") -> str:
    """A stanza id unique within the run."""
    return f"{prefix}{next(_ids)}"


# -- reading stanzas ------------------------------------------------------------------


def with_id(stanza_id: str) -> Callable[[Stanza], bool]:
    """A matcher for :func:`until`: the stanza with this id."""
    return lambda stanza: stanza.id == stanza_id


def codes(stanza: Stanza) -> set[int]:
    """The muc#user status codes of ``stanza``."""
    x = stanza.find(f"{{{MUC_USER}}}x")
    if x is None:
        return set()
    return {int(s.get("code", "0")) for s in x.findall(f"{{{MUC_USER}}}status")}


def items(stanza: Stanza) -> list[dict[str, str]]:
    """The attributes of each muc#user ``<item/>`` of ``stanza``."""
    x = stanza.find(f"{{{MUC_USER}}}x")
    if x is None:
        return []
    return [dict(item.attrs) for item in x.findall(f"{{{MUC_USER}}}item")]


def error_of(stanza: Stanza) -> tuple[str | None, str | None]:
    """``(type, condition)`` of an error stanza, ``(None, None)`` for anything else."""
    error = stanza.find("error")
    if stanza.type != "error" or error is None:
        return None, None
    conditions = [c.name for c in error.children if c.namespace == STANZAS and c.name != "text"]
    return error.get("type"), conditions[0] if conditions else None


def body(stanza: Stanza) -> str | None:
    """The ``<body/>`` text of a message."""
    element = stanza.find("body")
    return None if element is None else (element.text or "")


def subject(stanza: Stanza) -> str | None:
    """The ``<subject/>`` text of a message ('' when empty), ``None`` without one."""
    element = stanza.find("subject")
    return None if element is None else (element.text or "")


def is_subject(stanza: Stanza) -> bool:
    """A groupchat subject message (``<subject/>`` and no body)."""
    return (
        stanza.kind == "message"
        and stanza.find("subject") is not None
        and stanza.find("body") is None
    )


def show(stanzas: Iterable[Stanza]) -> str:
    """Stanzas as XML, one per line, for assertion messages."""
    return "\n".join(serialize(s) for s in stanzas) or "(nothing)"


def presences_from(stanzas: Iterable[Stanza], occupant: str) -> list[Stanza]:
    """The presences among ``stanzas`` sent from the occupant JID ``occupant``."""
    jid = JID.parse(occupant)
    return [s for s in stanzas if s.kind == "presence" and s.from_ == jid]


class Inbox(Protocol):
    """Anything stanzas are delivered to: a simulated session or a real occupant."""

    async def receive(self, timeout: float | None = ...) -> Stanza:
        """The next stanza, waiting at most ``timeout`` seconds."""
        ...

    def drain(self) -> list[Stanza]:
        """Every stanza delivered and not yet taken, without waiting."""
        ...


async def until(
    inbox: Inbox, match: Callable[[Stanza], bool], timeout: float = TIMEOUT, what: str = ""
) -> list[Stanza]:
    """Stanzas up to and including the first that matches; fail after ``timeout``."""
    seen: list[Stanza] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        try:
            stanza = await inbox.receive(max(remaining, 0.001))
        except TimeoutError:
            raise AssertionError(
                f"{inbox} got no {what or 'matching stanza'} within {timeout} s; "
                f"it got:\n{show(seen)}"
            ) from None
        seen.append(stanza)
        if match(stanza):
            return seen


# -- a real c2s occupant ----------------------------------------------------------------


class Occupant:
    """A real XMPP client on c2s (slixmpp): SASL PLAIN without TLS, bind, raw stanzas."""

    def __init__(self, jid: str, password: str) -> None:
        self.jid = JID.parse(jid)
        self._client = slixmpp.ClientXMPP(
            jid,
            password,
            plugin_config={"feature_mechanisms": {"unencrypted_plain": True}},
        )
        self._client.enable_direct_tls = False
        self._client.enable_starttls = False
        self._client.enable_plaintext = True
        self._queue: asyncio.Queue[Stanza] = asyncio.Queue()
        self._replies: dict[str, asyncio.Future[Stanza]] = {}
        self._requests: asyncio.Queue[Stanza] = asyncio.Queue()
        for kind in ("message", "presence"):
            self._client.register_handler(
                Callback(f"interop-{kind}", MatchXPath(f"{{jabber:client}}{kind}"), self._got)
            )
        self._client.register_handler(
            Callback("interop-iq", MatchXPath("{jabber:client}iq"), self._got_iq)
        )

    def __str__(self) -> str:
        return str(self.jid)

    def _got(self, stanza: StanzaBase) -> None:
        self._queue.put_nowait(parse_stanza(str(stanza)))

    def _got_iq(self, stanza: StanzaBase) -> None:
        parsed = parse_stanza(str(stanza))
        waiter = self._replies.pop(parsed.id or "", None)
        if parsed.type in ("result", "error") and waiter is not None and not waiter.done():
            waiter.set_result(parsed)
        elif parsed.type in ("get", "set"):
            self._requests.put_nowait(parsed)  # unanswered unless a test answers it

    async def connect(self, port: int, timeout: float = TIMEOUT) -> None:
        """Connect to 127.0.0.1:``port``, authenticate, bind, send initial presence."""
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_start(_: object) -> None:
            if not started.done():
                started.set_result(None)

        def on_failure(reason: object) -> None:
            if not started.done():
                started.set_exception(ConnectionError(f"{self.jid}: {reason}"))

        self._client.add_event_handler("session_start", on_start)
        self._client.add_event_handler("failed_auth", on_failure)
        self._client.add_event_handler("connection_failed", on_failure)
        self._client.connect("127.0.0.1", port)
        try:
            await asyncio.wait_for(started, timeout)
        except BaseException:
            self._client.cancel_connection_attempt()
            self._client.abort()
            raise
        self.send("<presence/>")

    async def disconnect(self, timeout: float = 5.0) -> None:
        """Close the stream; abort the connection if the server does not answer."""
        try:
            await asyncio.wait_for(self._client.disconnect(wait=timeout / 2), timeout)
        except TimeoutError:
            self._client.abort()

    def send(self, xml: str) -> None:
        """Send a stanza written as XML (``jabber:client`` is the default namespace)."""
        self._client.send_raw(xml)

    async def iq(self, xml: str, *, timeout: float = TIMEOUT) -> Stanza:
        """Send an IQ request (a fresh id is set) and wait for its ``result``."""
        reply = await self.ask(xml, timeout=timeout)
        if reply.type != "result":
            raise AssertionError(f"{self}: {xml} failed: {serialize(reply)}")
        return reply

    async def ask(self, xml: str, *, timeout: float = TIMEOUT) -> Stanza:
        """Send an IQ request (a fresh id is set) and return its answer, result or error."""
        request = parse_stanza(xml).replace(id=new_id("iq"))
        assert request.id is not None
        waiter: asyncio.Future[Stanza] = asyncio.get_running_loop().create_future()
        self._replies[request.id] = waiter
        self.send(serialize(request))
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise AssertionError(f"{self} got no answer to {serialize(request)}") from None

    async def request(self, timeout: float = TIMEOUT) -> Stanza:
        """The next IQ request (get or set) this client got; nothing answers it by itself."""
        try:
            return await asyncio.wait_for(self._requests.get(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self} got no IQ request within {timeout} s") from None

    async def receive(self, timeout: float | None = TIMEOUT) -> Stanza:
        """The next message or presence this client got."""
        return await asyncio.wait_for(self._queue.get(), timeout)

    def drain(self) -> list[Stanza]:
        """Every message and presence received and not yet taken."""
        out: list[Stanza] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    # -- what an owner or moderator does, as XEP-0045 says ------------------------------

    async def create_room(self, room: str, nick: str, config: dict[str, str] | None = None) -> None:
        """Create ``room`` as its owner: join, then submit the configuration (§10.1)."""
        self.send(f"<presence to='{room}/{nick}'><x xmlns='{MUC}'/></presence>")
        got = await until(self, is_subject, what="the subject that ends a join")
        assert any(201 in codes(s) for s in got), f"{room} existed already:\n{show(got)}"
        fields = "".join(
            f"<field var='{var}'><value>{value}</value></field>"
            for var, value in (config or {}).items()
        )
        if fields:
            fields = (
                "<field var='FORM_TYPE'>"
                "<value>http://jabber.org/protocol/muc#roomconfig</value></field>" + fields
            )
        await self.iq(
            f"<iq type='set' to='{room}'><query xmlns='{MUC_OWNER}'>"
            f"<x xmlns='jabber:x:data' type='submit'>{fields}</x></query></iq>"
        )

    async def set_affiliation(self, room: str, jid: str, affiliation: str) -> None:
        """Grant ``affiliation`` (member, outcast...) to a bare JID (§9.3, §9.1)."""
        await self.iq(
            f"<iq type='set' to='{room}'><query xmlns='{MUC_ADMIN}'>"
            f"<item jid='{jid}' affiliation='{affiliation}'/></query></iq>"
        )

    async def kick(self, room: str, nick: str, reason: str) -> None:
        """Kick the occupant ``nick`` (§8.2)."""
        await self.iq(
            f"<iq type='set' to='{room}'><query xmlns='{MUC_ADMIN}'>"
            f"<item nick='{nick}' role='none'><reason>{reason}</reason></item></query></iq>"
        )

    async def destroy(self, room: str, reason: str, venue: str | None = None) -> None:
        """Destroy the room (§10.9)."""
        alternate = f" jid='{venue}'" if venue else ""
        await self.iq(
            f"<iq type='set' to='{room}'><query xmlns='{MUC_OWNER}'>"
            f"<destroy{alternate}><reason>{reason}</reason></destroy></query></iq>"
        )


# -- the world of one scenario ----------------------------------------------------------


class TappedRouter(Router):
    """A router that also keeps every action it returned, for tests to read."""

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self.actions: list[Action] = []

    def handle(self, event: Event, *, now: float) -> list[Action]:
        """As :meth:`Router.handle`, recorded."""
        actions = super().handle(event, now=now)
        self.actions.extend(actions)
        return actions

    def handle_timer(self, now: float) -> list[Action]:
        """As :meth:`Router.handle_timer`, recorded."""
        actions = super().handle_timer(now)
        self.actions.extend(actions)
        return actions

    def sent(self) -> list[Stanza]:
        """Every stanza the router had the host send to the server, in order."""
        return [a.stanza for a in self.actions if isinstance(a, Send)]


class World:
    """The host under test (the example component) and the real occupants of a scenario."""

    def __init__(self, lab: Lab, config: Config | None) -> None:
        self.lab = lab
        self.router = TappedRouter(config)
        self.host = self._host()
        self.hosts = [self.host]
        """Every host of the scenario (a restart makes a new one)."""
        self.occupants: dict[str, Occupant] = {}
        self._probe: Session | None = None

    def _host(self) -> ComponentHost:
        lab = self.lab
        return ComponentHost(lab.component, lab.secret, port=lab.component_port, router=self.router)

    @property
    def bob(self) -> Occupant:
        """bob@localhost/lab."""
        return self.occupants["bob"]

    @property
    def carol(self) -> Occupant:
        """carol@localhost/lab."""
        return self.occupants["carol"]

    def session(self, resource: str, account: str = "alice") -> Session:
        """Attach a simulated client session ``account@component/resource``."""
        return self.host.attach(f"{account}@{self.lab.component}/{resource}")

    async def stop_keeping_state(self) -> dict[str, Any]:
        """Stop the host without leaving rooms (a restart); return the router's snapshot."""
        state = self.host.snapshot()
        await self.host.close(leave_rooms=False)
        return state

    async def start_from(self, state: dict[str, Any]) -> None:
        """Start a new host whose router is restored from ``state`` (sessions are gone)."""
        router = TappedRouter.restore(state, now=time.time(), config=self.router.config)
        assert isinstance(router, TappedRouter)
        self.router = router
        self.host = self._host()
        self.hosts.append(self.host)
        self._probe = None
        await self.host.connect(timeout=TIMEOUT)

    async def reconnect_host(self, lab: Lab | None = None) -> None:
        """A new host for the same router after the connection was lost (a server restart).

        The router never hears of the loss: to it, the account's sessions stayed attached,
        as a server's c2s sessions do while its link to the MUC service is down. The old
        host's sessions ended; attach them again with :meth:`session` (same JIDs).
        """
        # Lost already, this only releases the socket; never leave the rooms from here.
        await self.host.close(timeout=1.0, leave_rooms=False)
        if lab is not None:
            self.lab = lab
        self.host = self._host()
        self.hosts.append(self.host)
        self._probe = None
        await self.host.connect(timeout=TIMEOUT)

    async def reconnect(self, user: str, lab: Lab | None = None) -> Occupant:
        """A new c2s connection of ``user`` (same full JID) in place of a lost one."""
        if lab is not None:
            self.lab = lab
        old = self.occupants.pop(user)
        await old.disconnect(timeout=1.0)
        occupant = Occupant(str(old.jid), self.lab.password(user))
        await occupant.connect(self.lab.c2s_port)
        self.occupants[user] = occupant
        return occupant

    async def sync(self) -> None:
        """Wait until everything sent so far has had all its effects (see module doc)."""
        if self._probe is None:
            self._probe = self.session("sync", account="probe")
        for _ in range(2):
            barrier = new_id("sync")
            await self._probe.send(
                f"<iq type='get' to='{self.lab.muc}' id='{barrier}'>"
                f"<query xmlns='{DISCO_INFO}'/></iq>"
            )
            await until(self._probe, with_id(barrier), what="the barrier's answer")
            await self._ask_occupants()

    async def sync_occupants(self) -> None:
        """Wait until every c2s occupant got what the c2s occupants caused so far.

        Two rounds, as :meth:`sync` (see the module doc): one occupant's answer may come
        before another's earlier stanza reached the server.
        """
        for _ in range(2):
            await self._ask_occupants()

    async def _ask_occupants(self) -> None:
        for occupant in self.occupants.values():
            await occupant.iq(
                f"<iq type='get' to='{self.lab.muc}'><query xmlns='{DISCO_INFO}'/></iq>"
            )


@contextlib.asynccontextmanager
async def world(lab: Lab, *users: str, config: Config | None = None) -> AsyncIterator[World]:
    """Connect the component host and the c2s ``users``; tear everything down after."""
    w = World(lab, config)
    await w.host.connect(timeout=TIMEOUT)
    try:
        for user in users:
            occupant = Occupant(f"{user}@{lab.domain}/lab", lab.password(user))
            await occupant.connect(lab.c2s_port)
            w.occupants[user] = occupant
        yield w
        failures = [failure for host in w.hosts for failure in host.failures]
        assert not failures, f"the host failed on stanzas: {failures!r}"
    finally:
        await w.host.close(timeout=5.0)
        for occupant in w.occupants.values():
            await occupant.disconnect()


async def join(
    session: Session, room: str, nick: str = "alice", password: str | None = None
) -> str:
    """Send a join (§7.2) from ``session``, with a password if given; return its id."""
    join_id = new_id("join")
    x = f"<password>{password}</password>" if password is not None else ""
    await session.send(
        f"<presence to='{room}/{nick}' id='{join_id}'><x xmlns='{MUC}'>{x}</x></presence>"
    )
    return join_id


async def joined(session: Session, room: str, nick: str = "alice") -> list[Stanza]:
    """Join ``room`` and wait for the whole answer, through the subject (§7.2.15)."""
    await join(session, room, nick)
    return await until(session, is_subject, what="the subject that ends a join")


async def room_with_two_sessions(w: World, room: str) -> tuple[Session, Session]:
    """bob creates ``room``; alice/phone then alice/laptop join it; queues are drained."""
    await w.bob.create_room(room, "bob")
    phone, laptop = w.session("phone"), w.session("laptop")
    await joined(phone, room)
    await joined(laptop, room)
    await w.sync()
    inboxes: list[Inbox] = [phone, laptop, *w.occupants.values()]
    for inbox in inboxes:
        inbox.drain()
    return phone, laptop
