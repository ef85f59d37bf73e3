"""The tutorial's host: everything a server does to embed minimix_core.

The server's own I/O comes in as five callables, so that the same class runs inside a
real server and inside the tutorial's doctest (where the network is the simulated MUC
service of ``minimix_core.testing``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from minimix_core import (
    JID,
    Action,
    Archive,
    Continue,
    Deliver,
    Discard,
    Event,
    FromSession,
    Router,
    Send,
    Stanza,
    StanzaParseError,
    ToAccount,
    Unattended,
    parse_stanza,
)

log = logging.getLogger("minimix")


class Host:
    """One router, and what the server does with each of its actions."""

    def __init__(
        self,
        router: Router,
        *,
        send: Callable[[Stanza], None],
        deliver: Callable[[JID, Stanza], None],
        route: Callable[[Stanza], None],
        archive: Callable[[JID, Stanza], None],
        push: Callable[[Unattended], None],
    ) -> None:
        self.router = router
        self.send, self.deliver, self.route = send, deliver, route
        self.archive, self.push = archive, push

    # -- the loop ---------------------------------------------------------------------
    def handle(self, event: Event, now: float) -> None:
        """Hand one event to the router and carry out what it says, in order."""
        self.execute(self.router.handle(event, now=now))

    def tick(self, now: float) -> float | None:
        """Run the router's timers; return when to call again (``None``: no timer)."""
        self.execute(self.router.handle_timer(now))
        return self.router.next_deadline()

    def execute(self, actions: list[Action]) -> None:
        """Every action, in order: each stanza handed in has exactly one fate."""
        for action in actions:
            match action:
                case Send(stanza=stanza):  # to the network, from the account's bare JID
                    self.send(stanza)
                case Deliver(session=session, stanza=stanza):  # to one local session
                    self.deliver(session, stanza)
                case Continue(stanza=stanza):  # not room traffic: route it as usual
                    self.route(stanza)
                case Discard(stanza=stanza, reason=reason):  # dropped on purpose
                    log.debug("discarded (%s): %s", reason, stanza.id)
                case Archive(account=account, stanza=stanza):  # once per account
                    self.archive(account, stanza)
                case Unattended():  # no session attached: a push notification?
                    self.push(action)
                case _:  # an action kind from a newer minimix_core
                    log.warning("unknown action %r", action)

    # -- where the server's stanzas come in -------------------------------------------
    def from_session(self, session: JID, xml: bytes | str, now: float) -> None:
        """A client session sent ``xml`` (its stream already authenticated it as ``session``)."""
        try:
            stanza = parse_stanza(xml)
        except StanzaParseError as exc:
            log.info("refused from %s: %s", session, exc)  # your server: a stream error
            return
        self.handle(FromSession(session=session, stanza=stanza), now)

    def to_bare_jid(self, xml: bytes | str, now: float) -> None:
        """``xml`` arrived for a local account's bare JID: the router sees it first."""
        try:
            stanza = parse_stanza(xml)
        except StanzaParseError as exc:
            log.info("refused from the network: %s", exc)
            return
        self.handle(ToAccount(stanza=stanza), now)
