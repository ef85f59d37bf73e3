r"""The Python side of minimix_core in Prosody: an XEP-0114 component that embeds the router.

``mod_account_occupancy`` (beside this file) hands every event over as a message to this
component and executes the actions it gets back; both carry one element in
``urn:minimix-core:prosody:0`` (see README.md here). This process owns one
:class:`minimix_core.Router` for every user host that loads the module, keeps its snapshot
in a JSON file, reconnects when Prosody goes away, and never leaves the rooms when it stops:
the next start restores the snapshot and carries on.

Run it as a script::

    MINIMIX_COMPONENT_SECRET=... python hosts/prosody/minimix_prosody.py \\
        --component minimix.localhost --state /var/lib/minimix/state.json

The stream framing and the handshake (XEP-0114 §3) are those of ``examples/component.py``;
this module replaces only what happens to the stanzas.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import quoteattr

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's examples/

from examples.component import ComponentHost

from minimix_core import (
    JID,
    Action,
    Archive,
    Bookmark,
    BookmarksChanged,
    Config,
    Continue,
    Deliver,
    Event,
    FromSession,
    Router,
    Send,
    SessionClosed,
    SnapshotError,
    Stanza,
    StanzaParseError,
    ToAccount,
    Unattended,
    parse_stanza,
    serialize,
)
from minimix_core._replay import Entry, ReplayError
from minimix_core._replay import _config as _replay_config

__all__ = ["NS", "ProsodyBridge", "load_state", "main", "parse_config", "save_state"]

log = logging.getLogger("minimix.prosody")

NS: Final = "urn:minimix-core:prosody:0"
"""The namespace of ``<event/>`` (module to component) and ``<actions/>`` (back)."""
BOOKMARKS_NS: Final = "urn:xmpp:bookmarks:1"
SECRET_ENV: Final = "MINIMIX_COMPONENT_SECRET"
FREEZE_EVERY: Final = 1000
"""Events between two ``gc.freeze()`` calls: what the router keeps is moved out of the way of
later full collections (docs/operations.rst). Nothing leaks by it: neither the router nor
this bridge's path for an event makes reference cycles (tests/test_prosody_bridge.py)."""
_EVENT: Final = f"{{{NS}}}event"
_CONFERENCE: Final = f"{{{BOOKMARKS_NS}}}conference"

Pair = tuple[JID, JID]
"""(account bare JID, room bare JID): a claim the module holds."""
Claim = tuple[str, Pair]
"""``("claim", pair)`` or ``("release", pair)``."""


def parse_config(settings: Iterable[str]) -> Config:
    """The router's :class:`minimix_core.Config` from ``KEY=VALUE`` words (``--config``).

    The rules are the replay script's ``config`` directive (docs/replay.md): keys are
    ``Config`` field names; values are whole numbers, numbers, ``true``/``false`` or
    strings as the field takes. Raises ``ValueError`` naming the first bad word.

    >>> parse_config(["keepalive_idle=30", "max_rooms_per_account=50"]).keepalive_idle
    30.0
    """
    try:
        return _replay_config(Entry(line=0, words=("config", *settings), xml=""))
    except ReplayError as exc:
        raise ValueError(str(exc).removeprefix("line 0: ")) from exc


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector off while a whole router is read or written, as it was after.

    Each collection in the middle would walk everything built so far: with it running,
    a snapshot or a restore takes two to three times as long (docs/performance.md).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_state(path: Path | None, now: float, config: Config | None = None) -> Router:
    """A router restored from the snapshot at ``path``, or a fresh one, with ``config``.

    The sessions are taken to be still connected (``sessions=True``): when Prosody kept
    running, they are; the module's ``hello`` then names the ones that are not, and they are
    closed. A file that cannot be read or restored is renamed ``*.bad`` and logged.

    The snapshot may be older than the process that wrote it (saved every few seconds):
    the ids the restored router invents take a prefix new to this start (the configured
    one and the start's time in milliseconds), so none is one the dead process used after its
    last save.

    The collector is paused while the router is built, then what was built is frozen out
    of later full collections (docs/operations.rst: a router makes no reference cycles).
    """
    if path is None or not path.exists():
        return Router(config)
    base = config or Config()
    # In milliseconds: a crash and restart loop may start twice in one second.
    fresh = attrs.evolve(base, id_prefix=f"{base.id_prefix}{int(now * 1000):x}-")
    try:
        with _collector_paused():
            snapshot = json.loads(path.read_text(encoding="utf-8"))
            router = Router.restore(snapshot, now=now, config=fresh, sessions=True)
    except (OSError, ValueError, SnapshotError) as exc:  # JSONDecodeError is a ValueError
        bad = path.with_suffix(path.suffix + ".bad")
        log.error("could not restore %s (%s); starting empty, the file is now %s", path, exc, bad)
        with contextlib.suppress(OSError):
            path.replace(bad)
        return Router(config)
    gc.collect()
    gc.freeze()
    log.info("restored the router from %s", path)
    return router


def save_state(path: Path, router: Router) -> None:
    """Write ``router.snapshot()`` to ``path`` atomically (a temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as out, _collector_paused():
        json.dump(router.snapshot(), out, separators=(",", ":"))
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


def _holdings(router: Router, accounts: Iterable[JID] | None = None) -> Iterator[dict[str, Any]]:
    """The accounts of the router's snapshot (only its documented, versioned fields)."""
    chosen = None if accounts is None else list(accounts)
    yield from router.snapshot(chosen)["accounts"]


def _holds(router: Router, account: JID, room: JID) -> bool:
    """The router is in ``room`` for ``account``, or joining or leaving it."""
    view = getattr(router, "occupancy", None)  # a read-only view, in newer routers
    if view is not None:
        return bool(view(account, room) is not None)
    wanted = str(room)
    return any(o["room"] == wanted for a in _holdings(router, [account]) for o in a["rooms"])


def _wire(stanza: Stanza) -> str:
    """A stanza as the child of an action: its ``jabber:client`` namespace said aloud."""
    text = serialize(stanza)
    head = len(stanza.kind) + 1
    return f'{text[:head]} xmlns="jabber:client"{text[head:]}'


def _action_host(action: Action) -> str | None:
    """The user host whose module must execute ``action``."""
    if isinstance(action, Deliver):
        return action.session.domain
    if isinstance(action, (Archive, Unattended)):
        return action.account.domain
    stanza = action.stanza
    for jid in (stanza.from_, stanza.to):  # Send: from the account; Continue: either way
        if jid is not None:
            return jid.domain
    return None


def _action_xml(action: Action) -> str | None:
    """One action as an element of ``<actions/>``; ``None`` for a Discard (logged here)."""
    if isinstance(action, Send):
        return f"<send>{_wire(action.stanza)}</send>"
    if isinstance(action, Deliver):
        return f"<deliver session={quoteattr(str(action.session))}>{_wire(action.stanza)}</deliver>"
    if isinstance(action, Continue):
        return f"<continue>{_wire(action.stanza)}</continue>"
    if isinstance(action, Archive):
        return f"<archive account={quoteattr(str(action.account))}>{_wire(action.stanza)}</archive>"
    if isinstance(action, Unattended):
        mentions = "true" if action.mentions else "false"
        return (
            f"<unattended account={quoteattr(str(action.account))}"
            f" room={quoteattr(str(action.room))} mentions='{mentions}'>"
            f"{_wire(action.stanza)}</unattended>"
        )
    log.debug("discarded (%s): %s", action.reason, serialize(action.stanza))
    return None


def _claim_xml(name: str, pair: Pair) -> str:
    return f"<{name} account={quoteattr(str(pair[0]))} room={quoteattr(str(pair[1]))}/>"


def _bookmark(conference: ET.Element) -> Bookmark:
    """XEP-0402 §3: one ``<conference/>``, its ``jid`` set by the module from the item id."""
    nick = conference.findtext(f"{{{BOOKMARKS_NS}}}nick")
    password = conference.findtext(f"{{{BOOKMARKS_NS}}}password")
    return Bookmark(
        room=JID.parse(conference.get("jid", "")).bare,
        autojoin=conference.get("autojoin") in ("true", "1"),
        nick=nick or None,
        password=password,
        name=conference.get("name"),
    )


class ProsodyBridge(ComponentHost):
    """The component connection to Prosody: events in, the router's actions out.

    ``domain`` is the component JID (``Component "…"`` in Prosody). Each user host that
    loads the module speaks to it; one router serves them all. ``on_change`` is called after
    every call that may have changed the router (to schedule a snapshot).
    """

    def __init__(
        self,
        domain: str,
        secret: str,
        *,
        server: str = "127.0.0.1",
        port: int = 5347,
        router: Router | None = None,
        on_change: Any = None,
    ) -> None:
        super().__init__(domain, secret, server=server, port=port, router=router)
        self.claims: set[Pair] = set()
        """What this side believes the modules claim (a superset is harmless)."""
        self._on_change = on_change
        self._since_freeze = 0

    # -- from Prosody ---------------------------------------------------------------

    def _from_server(self, element: ET.Element) -> None:
        """One stanza from Prosody: an ``<event/>`` from a user host's module, or noise."""
        event = element.find(_EVENT)
        origin = element.get("from", "")
        if event is None or not origin or "@" in origin or "/" in origin:
            log.info("not an event; dropped: %s", ET.tostring(element, encoding="unicode"))
            return
        seq = event.get("seq", "")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("event from %s: %s", origin, ET.tostring(event, encoding="unicode"))
        try:
            actions, extra = self._event(origin, event)
        except Exception as exc:  # one event's failure must not take the stream down
            log.exception("failed to handle %s", ET.tostring(event, encoding="unicode"))
            self.failures.append(exc)
            actions, extra = [], []
        self._answer(actions, origin, seq, extra)
        self._since_freeze += 1
        if self._since_freeze == FREEZE_EVERY:
            self._since_freeze = 0
            gc.freeze()

    def _event(self, origin: str, event: ET.Element) -> tuple[list[Action], list[Claim]]:
        """The router's actions for one event, and the claims to send with them."""
        kind = event.get("kind")
        if kind == "hello":
            return self._hello(origin, event)
        if kind == "bookmarks":
            account = JID.parse(event.get("account", "")).bare
            marks = tuple(_bookmark(c) for c in event.iter(_CONFERENCE) if c.get("jid"))
            return self._handle_event(BookmarksChanged(account=account, bookmarks=marks)), []
        if kind == "session-closed":
            session = JID.parse(event.get("session", ""))
            return self._handle_event(SessionClosed(session=session)), []
        children = list(event)
        if len(children) != 1:
            raise ValueError(f"a {kind} event carries one stanza, not {len(children)}")
        try:
            stanza = parse_stanza(ET.tostring(children[0]))
        except StanzaParseError as exc:
            log.warning("refused from %s: %s", origin, exc)
            return [], []
        touched: set[Pair] = set()
        routed: Event
        if kind == "from-session":
            session = JID.parse(event.get("session", ""))
            routed = FromSession(session=session, stanza=stanza)
            if stanza.to is not None:
                touched.add((session.bare, stanza.to.bare))
        elif kind == "to-account":
            routed = ToAccount(stanza=stanza)
            if stanza.to is not None and stanza.from_ is not None:
                touched.add((stanza.to.bare, stanza.from_.bare))
        else:
            raise ValueError(f"unknown event kind {kind!r}")
        actions = self._handle_event(routed)
        return actions, self._releases(actions, touched)

    def _handle_event(self, event: Event) -> list[Action]:
        actions = self.router.handle(event, now=self._now())
        self._changed()
        return actions

    def _hello(self, origin: str, event: ET.Element) -> tuple[list[Action], list[Claim]]:
        """A module (re)started or this side reconnected: sync sessions and claims.

        The router's sessions of ``origin`` that the module does not list ended while the two
        were apart: they are closed. Every room the router holds is claimed again (a
        restarted Prosody remembers none).
        """
        live = {JID.parse(s.get("jid", "")) for s in event.iter(f"{{{NS}}}session")}
        accounts = list(_holdings(self.router))
        gone = [
            JID.parse(session)
            for account in accounts
            for session, _rooms in account["sessions"]
            if JID.parse(session).domain == origin and JID.parse(session) not in live
        ]
        log.info("%s is up: %d live sessions, %d ended meanwhile", origin, len(live), len(gone))
        actions: list[Action] = []
        for session in gone:
            actions += self._handle_event(SessionClosed(session=session))
        claims: list[Claim] = []
        for account in _holdings(self.router):
            jid = JID.parse(account["jid"])
            if jid.domain == origin:
                for occupancy in account["rooms"]:
                    pair = (jid, JID.parse(occupancy["room"]))
                    self.claims.add(pair)
                    claims.append(("claim", pair))
        return actions, claims

    def _releases(self, actions: list[Action], touched: set[Pair]) -> list[Claim]:
        """Claims the router no longer needs, among those this event could have ended."""
        for action in actions:
            if isinstance(action, Send) and action.stanza.from_ and action.stanza.to:
                pair = (action.stanza.from_.bare, action.stanza.to.bare)
                self.claims.add(pair)  # the module claims before it sends
                touched.add(pair)
        released: list[Claim] = []
        for pair in sorted(touched & self.claims, key=str):
            if not _holds(self.router, *pair):
                self.claims.discard(pair)
                released.append(("release", pair))
        return released

    # -- to Prosody -----------------------------------------------------------------

    def _execute(self, actions: list[Action], sender: JID | None) -> None:
        """Actions the router returned outside an event (timers, shutdown)."""
        self._changed()
        touched: set[Pair] = set()
        self._answer(actions, None, None, self._releases(actions, touched))

    def _answer(
        self, actions: list[Action], origin: str | None, seq: str | None, extra: list[Claim]
    ) -> None:
        """Send ``actions`` in order, one ``<actions/>`` per user host; answer ``seq``.

        The event's own host always gets its answer (possibly empty): the module forgets
        the event only then.
        """
        groups: dict[str, list[str]] = {}
        for action in actions:
            # Continue hands the event's own stanza back: to the host that handed it over
            # (an IQ to the account may come from a MUC host, which cannot route it).
            if isinstance(action, Continue) and origin is not None:
                host: str | None = origin
            else:
                host = _action_host(action) or origin
            text = _action_xml(action)
            if host is not None and text is not None:
                groups.setdefault(host, []).append(text)
        for name, pair in extra:  # a claim concerns the account's own host
            groups.setdefault(pair[0].domain, []).append(_claim_xml(name, pair))
        if origin is not None:
            groups.setdefault(origin, [])
        for host, parts in groups.items():
            answer = f" for={quoteattr(seq)}" if seq is not None and host == origin else ""
            if not parts and not answer:
                continue
            log.debug("actions to %s%s: %s", host, answer, "".join(parts))
            self._write_text(
                f"<message from={quoteattr(self.domain)} to={quoteattr(host)} type='normal'>"
                f"<actions xmlns='{NS}'{answer}>{''.join(parts)}</actions></message>"
            )

    def _write_text(self, text: str) -> None:
        if self._writer is None or not self.connected:
            log.warning("not connected; dropped: %s", text)
            return
        self._writer.write(text.encode())

    def _changed(self) -> None:
        self._rearm.set()  # the next deadline may have moved
        if self._on_change is not None:
            self._on_change()


class _Saver:
    """Writes the router's snapshot at most every ``interval`` seconds after a change."""

    def __init__(self, path: Path | None, interval: float) -> None:
        self.path = path
        self.interval = interval
        self.router: Router | None = None
        self._dirty = asyncio.Event()

    def changed(self) -> None:
        self._dirty.set()

    def save(self) -> None:
        if self.path is not None and self.router is not None:
            try:
                save_state(self.path, self.router)
            except OSError as exc:
                log.error("could not save %s: %s", self.path, exc)

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self.save()
            await asyncio.sleep(self.interval)


async def serve(args: argparse.Namespace, secret: str) -> None:
    """Connect, serve, reconnect after a loss, until SIGINT or SIGTERM; then save and stop."""
    state: Path | None = args.state
    saver = _Saver(state, args.save_interval)
    router = load_state(state, time.time(), args.config)
    saver.router = router
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    saving = asyncio.create_task(saver.run())
    try:
        while not stop.is_set():
            bridge = ProsodyBridge(
                args.component,
                secret,
                server=args.server,
                port=args.port,
                router=router,
                on_change=saver.changed,
            )
            try:
                await bridge.connect()
            except (OSError, TimeoutError) as exc:  # ConnectionError is an OSError
                log.warning("cannot reach Prosody at %s:%d: %s", args.server, args.port, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.retry)
                continue
            closed = asyncio.create_task(bridge.wait_closed())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            stopping.cancel()
            if stop.is_set():
                await bridge.close(leave_rooms=args.leave_rooms)
            else:
                log.warning("lost the connection to Prosody; reconnecting")
                await bridge.close(leave_rooms=False)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.retry)
    finally:
        saving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await saving
        saver.save()
        log.info("stopped; the rooms keep the accounts until the next start")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line (README.md beside this file) and serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--component", required=True, help="the component JID")
    parser.add_argument("--server", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5347)
    parser.add_argument("--secret-file", type=Path, help=f"else ${SECRET_ENV}")
    parser.add_argument("--state", type=Path, help="JSON snapshot file")
    parser.add_argument("--save-interval", type=float, default=2.0, help="seconds")
    parser.add_argument("--retry", type=float, default=2.0, help="seconds")
    parser.add_argument(
        "--leave-rooms", action="store_true", help="on exit, leave every room (Router.shutdown)"
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a minimix_core.Config field (repeatable; the replay script's config rules)",
    )
    parser.add_argument(
        "--keepalive-idle",
        type=float,
        metavar="SECONDS",
        help="self-ping a room after this much silence (Config.keepalive_idle)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    settings = list(args.config)
    if args.keepalive_idle is not None:
        settings.append(f"keepalive_idle={args.keepalive_idle}")
    try:
        args.config = parse_config(settings)
    except ValueError as exc:
        parser.error(f"--config: {exc}")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.secret_file is not None:
        secret = args.secret_file.read_text(encoding="utf-8").strip()
    elif os.environ.get(SECRET_ENV):
        secret = os.environ[SECRET_ENV]
    else:
        parser.error(f"give --secret-file or set {SECRET_ENV}")
    asyncio.run(serve(args, secret))


if __name__ == "__main__":
    main()
