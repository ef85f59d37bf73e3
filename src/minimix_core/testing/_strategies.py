"""Hypothesis strategies for JIDs, stanzas and event stories (needs ``hypothesis``).

Re-exported lazily by :mod:`minimix_core.testing`, so importing that module never needs
Hypothesis; calling one of these does. Without Hypothesis, importing this module raises
:class:`ImportError` saying which extra to install, rather than a bare
:class:`ModuleNotFoundError` from deep inside the package.
"""

from __future__ import annotations

from collections.abc import Sequence

try:
    from hypothesis import strategies as st
except ImportError as error:
    raise ImportError(
        "minimix_core.testing strategies need Hypothesis: pip install minimix_core[testing]",
        name="hypothesis",
    ) from error

from .._events import Bookmark, BookmarksChanged, Event, FromSession, SessionClosed, ToAccount
from .._jid import JID
from .._stanza import CLIENT_NS, Element, Stanza, StanzaKind

__all__ = ["events", "jids", "payloads", "stanzas", "stories"]

_MUC = "http://jabber.org/protocol/muc"
_USER = "http://jabber.org/protocol/muc#user"
_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
_CODES = [
    "100",
    "110",
    "170",
    "171",
    "172",
    "173",
    "201",
    "210",
    "301",
    "303",
    "307",
    "321",
    "322",
    "332",
    "333",
    "xyz",
]


def jids(
    locals_: Sequence[str] = ("alice", "bob"),
    domains: Sequence[str] = ("example.org", "muc.example.net"),
    resources: Sequence[str] = ("phone", "laptop", "alice", "bob"),
    *,
    bare: bool | None = None,
) -> st.SearchStrategy[JID]:
    """JIDs from small pools, so that stories hit the same addresses again and again."""
    resource = (
        st.sampled_from(resources) if bare is False else st.none() | st.sampled_from(resources)
    )
    if bare:
        resource = st.none()
    return st.builds(JID, st.sampled_from(locals_), st.sampled_from(domains), resource)


def _leaf(tag: str, text: str | None = None, **attrs: str) -> Element:
    return Element(tag, tuple(attrs.items()), (), text)


def payloads() -> st.SearchStrategy[tuple[Element, ...]]:
    """Stanza payloads a MUC flow uses, mixed freely: muc and muc#user, bodies, errors, pings..."""
    status = st.sampled_from(_CODES).map(lambda c: _leaf(f"{{{_USER}}}status", code=c))
    item = st.builds(
        lambda r, a, n: Element(
            f"{{{_USER}}}item",
            (("role", r), ("affiliation", a), *((("nick", n),) if n else ())),
        ),
        st.sampled_from(["none", "visitor", "participant", "moderator"]),
        st.sampled_from(["none", "member", "owner", "outcast"]),
        st.none() | st.sampled_from(["alice", "alice2", "bob"]),
    )
    user_x = st.lists(status | item, max_size=4).map(
        lambda cs: Element(f"{{{_USER}}}x", (), tuple(cs))
    )
    history = st.builds(
        lambda n: Element(f"{{{_MUC}}}history", (("maxstanzas", n),)),
        st.sampled_from(["0", "2", "x"]),
    )
    muc_x = st.lists(history, max_size=1).map(lambda cs: Element(f"{{{_MUC}}}x", (), tuple(cs)))
    error = st.builds(
        lambda c, by: Element(
            f"{{{CLIENT_NS}}}error",
            (("type", "cancel"), *((("by", by),) if by else ())),
            (_leaf(f"{{{_STANZAS}}}{c}"),),
        ),
        st.sampled_from(
            ["conflict", "not-acceptable", "item-not-found", "forbidden", "remote-server-timeout"]
        ),
        st.none() | st.sampled_from(["muc.example.net", "lounge@muc.example.net"]),
    )
    simple = st.sampled_from(
        [
            _leaf(f"{{{CLIENT_NS}}}body", "hi"),
            _leaf(f"{{{CLIENT_NS}}}subject", "topic"),
            _leaf(f"{{{CLIENT_NS}}}show", "away"),
            _leaf("{urn:xmpp:ping}ping"),
            _leaf("{urn:xmpp:mam:2}query", queryid="q"),
            Element("{urn:xmpp:mam:2}result", (("queryid", "mmx-1"),)),
            _leaf("{urn:xmpp:sid:0}stanza-id", by="lounge@muc.example.net", id="s1"),
            _leaf("{urn:xmpp:delay}delay", stamp="2026-01-01T00:00:00Z"),
            _leaf("{urn:xmpp:hints}no-store"),
        ]
    )
    return st.lists(user_x | muc_x | error | simple, max_size=4).map(tuple)


_TYPES: dict[StanzaKind, list[str | None]] = {
    "message": [None, "groupchat", "chat", "normal", "error", "headline", "odd"],
    "presence": [None, "unavailable", "error", "probe", "subscribe", "odd"],
    "iq": ["get", "set", "result", "error"],
}
_KINDS: list[StanzaKind] = ["message", "presence", "iq"]


def stanzas(
    senders: st.SearchStrategy[JID | None] | None = None,
    recipients: st.SearchStrategy[JID | None] | None = None,
) -> st.SearchStrategy[Stanza]:
    """Well-formed stanzas with any combination of type, addresses, id and payload."""
    senders = senders if senders is not None else st.none() | jids()
    recipients = recipients if recipients is not None else st.none() | jids()
    return st.sampled_from(_KINDS).flatmap(
        lambda kind: st.builds(
            lambda type_, from_, to, id_, children: Stanza(
                kind, type=type_, from_=from_, to=to, id=id_, children=children
            ),
            st.sampled_from(_TYPES[kind]),
            senders,
            recipients,
            st.none() | st.sampled_from(["j1", "m1", "mmx-1", "mmx-2", "p1"]),
            payloads(),
        )
    )


def events(
    accounts: Sequence[str] = ("alice@example.org",),
    rooms: Sequence[str] = ("lounge@muc.example.net", "garden@muc.example.net"),
) -> st.SearchStrategy[Event]:
    """Router events for a few accounts and rooms: valid for the API, anything for the protocol."""
    account_jids = [JID.parse(a) for a in accounts]
    room_jids = [JID.parse(r) for r in rooms]
    sessions = st.sampled_from(
        [a.with_resource(r) for a in account_jids for r in ("phone", "laptop")]
    )
    room_side = st.sampled_from(room_jids).flatmap(
        lambda room: st.sampled_from([room, room.with_resource("alice"), room.with_resource("bob")])
    )
    to_rooms = st.none() | room_side
    from_session = st.builds(
        lambda session, stanza: FromSession(session=session, stanza=stanza),
        sessions,
        stanzas(senders=st.none(), recipients=to_rooms),
    )
    to_account = st.builds(
        lambda account, stanza: ToAccount(stanza=stanza.replace(to=account)),
        st.sampled_from(account_jids),
        stanzas(senders=st.none() | room_side, recipients=st.none()),
    )
    closed = st.builds(lambda s: SessionClosed(session=s), sessions)
    marks = st.lists(
        st.builds(
            lambda r, a: Bookmark(room=r, autojoin=a), st.sampled_from(room_jids), st.booleans()
        ),
        max_size=2,
    )
    bookmarks = st.builds(
        lambda a, m: BookmarksChanged(account=a, bookmarks=tuple(m)),
        st.sampled_from(account_jids),
        marks,
    )
    return st.one_of(
        from_session, from_session, to_account, to_account, to_account, closed, bookmarks
    )


def stories(max_size: int = 40) -> st.SearchStrategy[list[tuple[float, Event | None]]]:
    """Sequences of ``(time step, event)``; ``None`` means "run the timers"."""
    step = st.sampled_from([0.0, 0.0, 1.0, 61.0, 900.0])
    return st.lists(st.tuples(step, st.none() | events()), max_size=max_size)
