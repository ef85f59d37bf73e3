"""The narrated demo: two sessions of one account in a simulated room."""

from __future__ import annotations

from typing import IO

from ._actions import Action, Archive, Continue, Deliver, Discard, Send, Unattended
from ._events import FromSession, ToAccount
from ._jid import JID
from ._router import Router
from ._stanza import Stanza
from ._xml import parse_stanza, serialize
from .testing import MUCService

__all__ = ["demo"]

ALICE = JID.parse("alice@example.org")
PHONE = ALICE.with_resource("phone")
LAPTOP = ALICE.with_resource("laptop")
BOB = JID.parse("bob@example.net/pc")
MUC_X = "<x xmlns='http://jabber.org/protocol/muc'/>"


_LABELS = {
    Discard: "router drops it ({reason})",
    Continue: "router lets the server route it as usual",
    Unattended: "no session attached: the router asks the host for a push",
}


class _Demo:
    def __init__(self, out: IO[str], colour: bool) -> None:
        self.out = out
        self.colour = colour
        self.router = Router()
        self.service = MUCService("muc.example.net")
        self.room = self.service.create_room("lounge", subject="Tea and XMPP")
        self.now = 0.0

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def say(self, text: str) -> None:
        self.out.write("\n" + self._paint(f"## {text}", "1;33") + "\n")

    def show(self, label: str, stanza: Stanza) -> None:
        self.out.write(self._paint(f"  {label}", "36") + "\n")
        for line in serialize(stanza, indent="  ").splitlines():
            self.out.write(f"      {line}\n")

    def _room(self, stanza: Stanza) -> None:
        """The room handles a stanza; what it sends is delivered where it is addressed."""
        for out in self.service.receive(stanza, now=self.now):
            if out.to is not None and out.to.bare == ALICE:
                self._execute(self.router.handle(ToAccount(stanza=out), now=self.now))
            else:
                self.show(f"{out.to} receives", out)

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.show("router sends to the room", action.stanza)
                self._room(action.stanza)
            elif isinstance(action, Deliver):
                self.show(f"router delivers to {action.session}", action.stanza)
            elif isinstance(action, Archive):
                label = f"  router offers it to {action.account}'s archive, once"
                self.out.write(self._paint(label, "36") + "\n")
            else:
                reason = getattr(action, "reason", "")
                self.show(_LABELS[type(action)].format(reason=reason), action.stanza)

    def session(self, session: JID, xml: str) -> None:
        self.now += 1.0
        stanza = parse_stanza(xml)
        self.show(f"{session} sends", stanza)
        self._execute(self.router.handle(FromSession(session=session, stanza=stanza), now=self.now))

    def direct(self, sender: JID, xml: str) -> None:
        self.now += 1.0
        stanza = parse_stanza(xml).replace(from_=sender)
        self.show(f"{sender} sends (a plain MUC client)", stanza)
        self._room(stanza)


def demo(out: IO[str], *, colour: bool = False) -> None:
    """Print the scenario: first join, late join, messages forked, leaves."""
    d = _Demo(out, colour)
    room = d.room
    d.say("bob, a plain MUC client, is in the room")
    d.direct(BOB, f"<presence to='{room}/bob'>{MUC_X}</presence>")
    d.say("alice's phone joins: the account joins, the phone waits for the room's answer")
    d.session(PHONE, f"<presence to='{room}/alice' id='join-1'>{MUC_X}</presence>")
    d.say("alice's laptop joins: answered from the router's state, nothing goes to the room")
    d.session(LAPTOP, f"<presence to='{room}/alice' id='join-2'>{MUC_X}</presence>")
    d.say("bob speaks: one copy reaches the account, the router forks it to both sessions")
    d.direct(BOB, f"<message to='{room}' type='groupchat' id='b1'><body>Hi alice!</body></message>")
    d.say("the phone speaks: sent from the account; the reflection reaches both sessions")
    d.session(PHONE, f"<message to='{room}' type='groupchat' id='a1'><body>Hi bob</body></message>")
    d.say("the laptop leaves: only the laptop is told; the room sees nothing")
    d.session(LAPTOP, f"<presence to='{room}/alice' type='unavailable' id='bye-1'/>")
    d.say("the laptop leaves again: a room would not answer, so the router drops it")
    d.session(LAPTOP, f"<presence to='{room}/alice' type='unavailable' id='bye-1'/>")
    d.say("the laptop sends a status to its server: not room traffic, routed as usual")
    d.session(LAPTOP, "<presence><show>away</show></presence>")
    d.say("the phone leaves too: now the account leaves, and bob sees alice go")
    d.session(PHONE, f"<presence to='{room}/alice' type='unavailable' id='bye-2'/>")
    d.out.write("\n")
