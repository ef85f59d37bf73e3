"""Test helpers: a simulated XEP-0045 service, and Hypothesis strategies for stories.

:class:`MUCService` stands in for a real MUC component in your own tests. It is a
deterministic, sans-IO model of Prosody 0.12's ``mod_muc``: hand it the stanzas your code
sends, get back the stanzas the service would send, and assert on them.

>>> from minimix_core import JID
>>> from minimix_core.testing import MUCService
>>> service = MUCService("conference.example.net")
>>> room = service.create_room("lounge", subject="Welcome")
>>> service.subject(room)
'Welcome'

The strategies (:func:`jids`, :func:`payloads`, :func:`stanzas`, :func:`events`,
:func:`stories`) need Hypothesis (``pip install minimix_core[testing]``); importing this
module does not. Calling one without Hypothesis raises :class:`ImportError` naming that extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._faults import Faults, FaultyLink
from ._service import MUCService

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from .._events import Event
    from .._jid import JID
    from .._stanza import Element, Stanza

__all__ = ["Faults", "FaultyLink", "MUCService", "events", "jids", "payloads", "stanzas", "stories"]

# The strategies import Hypothesis only when called: it is a test tool, not a dependency.
# ruff: noqa: PLC0415


def jids(
    locals_: Sequence[str] = ("alice", "bob"),
    domains: Sequence[str] = ("example.org", "muc.example.net"),
    resources: Sequence[str] = ("phone", "laptop", "alice", "bob"),
    *,
    bare: bool | None = None,
) -> SearchStrategy[JID]:
    """JIDs from small pools (``bare=True`` only bare, ``False`` only full)."""
    from ._strategies import jids as strategy

    return strategy(locals_, domains, resources, bare=bare)


def payloads() -> SearchStrategy[tuple[Element, ...]]:
    """Payload mixes a MUC flow uses: muc and muc#user, bodies, errors, pings, MAM."""
    from ._strategies import payloads as strategy

    return strategy()


def stanzas(
    senders: SearchStrategy[JID | None] | None = None,
    recipients: SearchStrategy[JID | None] | None = None,
) -> SearchStrategy[Stanza]:
    """Well-formed stanzas of any type, addresses, id and payload."""
    from ._strategies import stanzas as strategy

    return strategy(senders, recipients)


def events(
    accounts: Sequence[str] = ("alice@example.org",),
    rooms: Sequence[str] = ("lounge@muc.example.net", "garden@muc.example.net"),
) -> SearchStrategy[Event]:
    """Router events that are valid for the API and anything for the protocol."""
    from ._strategies import events as strategy

    return strategy(accounts, rooms)


def stories(max_size: int = 40) -> SearchStrategy[list[tuple[float, Event | None]]]:
    """Sequences of ``(seconds to advance, event)``; ``None`` means run the timers."""
    from ._strategies import stories as strategy

    return strategy(max_size)
