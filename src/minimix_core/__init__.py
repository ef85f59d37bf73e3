"""minimix_core: the account, not each device, is the occupant of a MUC room.

A sans-IO router for XMPP servers: hand it parsed stanzas and the time, execute the
actions it returns. See https://xmpp.org/extensions/xep-0045.html for the protocol.
"""

from ._actions import (
    Action,
    Archive,
    Continue,
    Deliver,
    Discard,
    DiscardReason,
    Send,
    Unattended,
)
from ._config import Config
from ._events import Bookmark, BookmarksChanged, Event, FromSession, SessionClosed, ToAccount
from ._jid import JID, InvalidJID
from ._lifecycle import LifecycleError, OccupancyState
from ._router import LocalProtocolError, Router
from ._snapshot_codec import SnapshotError
from ._stanza import CLIENT_NS, XML_LANG, Element, Stanza
from ._view import OccupancyView
from ._xml import StanzaParseError, parse_stanza, serialize

__all__ = [
    "CLIENT_NS",
    "JID",
    "XML_LANG",
    "Action",
    "Archive",
    "Bookmark",
    "BookmarksChanged",
    "Config",
    "Continue",
    "Deliver",
    "Discard",
    "DiscardReason",
    "Element",
    "Event",
    "FromSession",
    "InvalidJID",
    "LifecycleError",
    "LocalProtocolError",
    "OccupancyState",
    "OccupancyView",
    "Router",
    "Send",
    "SessionClosed",
    "SnapshotError",
    "Stanza",
    "StanzaParseError",
    "ToAccount",
    "Unattended",
    "parse_stanza",
    "serialize",
]

__version__ = "0.1.0"
