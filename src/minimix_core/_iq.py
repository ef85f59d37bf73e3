"""IQs between sessions and rooms: rewritten ids, answers mapped back, self-pings answered.

A session's IQ to a room or an occupant leaves from the account with an id the router
makes up, so that two sessions using the same id cannot collide; the answer goes back to
that session only, with its own id. Every IQ gets exactly one answer: the room's, or the
router's error when the room stays silent past ``Config.iq_timeout``.
"""

from __future__ import annotations

from ._actions import Action, Continue, Deliver, Discard, DiscardReason, Send
from ._core import Core
from ._jid import JID
from ._lifecycle import IN_ROOM
from ._muc import MAM, NOT_CONNECTED_TEXT, NOT_IN_ROOM_TEXT, PING, error_stanza
from ._sessions import PendingIQ, writable
from ._stanza import Element, Stanza
from ._table import Account, Occupancy

__all__ = [
    "MAM_RESULTS",
    "find_mam_result",
    "forget_session_iqs",
    "iq_from_session",
    "iq_timeout",
    "iq_to_account",
    "mam_result",
]

_PING = f"{{{PING}}}ping"
# Servers still speak the earlier MAM namespaces (ejabberd: 0, 1 and 2); each has queryid.
_MAM_VERSIONS = (MAM, "urn:xmpp:mam:1", "urn:xmpp:mam:0")
_MAM_QUERIES = frozenset(f"{{{ns}}}query" for ns in _MAM_VERSIONS)
MAM_RESULTS = frozenset(f"{{{ns}}}result" for ns in _MAM_VERSIONS)
"""A MAM result's tag, in each namespace version a room may answer in."""


def find_mam_result(stanza: Stanza) -> Element | None:
    """The MAM ``<result/>`` a message carries (XEP-0313 §4.2), in any namespace version."""
    for child in stanza.children:
        if child.tag in MAM_RESULTS:
            return child
    return None


def _self_ping_answer(stanza: Stanza, session: JID, to: JID, occupancy: Occupancy) -> Stanza | None:
    """The answer to a self-ping a room would give itself (XEP-0410 §3.3), or ``None``.

    ``None`` means the ping is not for the router to answer: it goes to another
    occupant, or to the room itself.
    """
    nick = to.resource
    if nick is None or stanza.type != "get" or stanza.find(_PING) is None:
        return None
    room = occupancy.room
    # While the router rejoins on its own, the session is still in as far as it knows.
    joined = session in occupancy.attached and occupancy.state in IN_ROOM
    if not joined:
        return error_stanza(
            stanza,
            from_=to,
            to=session,
            condition="not-acceptable",
            error_type="cancel",
            text=NOT_CONNECTED_TEXT,
            by=room,
        )
    if nick == occupancy.view.nick:
        return Stanza("iq", type="result", from_=to, to=session, id=stanza.id)
    if nick in occupancy.view.occupants or occupancy.view.partial:
        return None  # an occupant, or perhaps one the cache had no room for: the room knows
    return error_stanza(
        stanza,
        from_=to,
        to=session,
        condition="item-not-found",
        error_type="cancel",
        text=NOT_IN_ROOM_TEXT,
        by=room,
    )


def iq_from_session(
    core: Core,
    account_jid: JID,
    session: JID,
    stanza: Stanza,
    to: JID,
    occupancy: Occupancy | None,
) -> list[Action]:
    """A session's IQ: answered here (self-ping), rewritten to the room, or not ours."""
    if occupancy is None or stanza.type not in ("get", "set"):
        return [Continue(stanza=stanza)]
    answer = _self_ping_answer(stanza, session, to, occupancy)
    if answer is not None:
        return [Deliver(session=session, stanza=answer)]
    if session not in occupancy.attached and session not in occupancy.pending:
        return [Continue(stanza=stanza)]  # the room answers a non-occupant itself
    if stanza.id is None:
        return [Discard(stanza=stanza, reason=DiscardReason.MALFORMED)]  # RFC 6120 §8.1.3
    account = core.table.accounts[account_jid]
    if len(account.pending_iqs) >= core.config.max_pending_iqs:
        error = error_stanza(
            stanza, from_=to, to=session, condition="resource-constraint", error_type="wait"
        )
        return [Deliver(session=session, stanza=error)]
    original_id = stanza.id
    new_id = core.next_id()
    query = None
    if stanza.type == "set":
        query = next((c for c in stanza.children if c.tag in _MAM_QUERIES), None)
    query_id = None
    if query is not None:
        # Results carry the queryid, not the IQ id: make it ours too (XEP-0313 §4.1), so
        # that two sessions using the same queryid never get each other's results.
        query_id = query.get("queryid")
        stanza = _with_query_id(stanza, query, new_id)
    pending = PendingIQ(session=session, original_id=original_id, to=to, query_id=query_id)
    account.pending_iqs = writable(account.pending_iqs)
    account.pending_iqs[new_id] = pending
    core.schedule(("iq", account_jid, new_id), core.config.iq_timeout)
    return [Send(stanza=stanza.replace(from_=account_jid, id=new_id))]


def _with_query_id(stanza: Stanza, query: Element, query_id: str | None) -> Stanza:
    attrs: list[tuple[str, str]] = []
    for key, value in query.attrs:
        if key != "queryid":
            attrs.append((key, value))
        elif query_id is not None:
            attrs.append((key, query_id))  # in place, as the peer wrote it
    if query_id is not None and query.get("queryid") is None:
        attrs.append(("queryid", query_id))
    new = query.replace(attrs=tuple(attrs))
    return stanza.replace(children=tuple(new if c is query else c for c in stanza.children))


def mam_result(account: Account, stanza: Stanza, result: Element, sender: JID) -> list[Action]:
    """A MAM result message goes to the session whose query it answers, and only there.

    Every query a session sends a room leaves under a ``queryid`` the router made: a
    result for none in flight (the query timed out already, or a copy) is no room
    traffic for the other sessions, whether or not another IQ is in flight.
    """
    pending = account.pending_iqs.get(result.get("queryid", ""))
    if pending is None or pending.room != sender.bare:
        return [Discard(stanza=stanza, reason=DiscardReason.UNEXPECTED)]
    if pending.session_closed:
        return [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
    restored = _with_query_id(stanza, result, pending.query_id)
    return [Deliver(session=pending.session, stanza=restored.with_to(pending.session))]


def iq_to_account(core: Core, account: Account | None, stanza: Stanza, sender: JID) -> list[Action]:
    """An IQ for the account: an answer for a session, or the server's to answer."""
    if stanza.type not in ("result", "error") or stanza.id is None:
        # Requests from rooms and occupants are for the account; the server answers
        # them on its behalf (RFC 6121 §8.5.2.1.3), as it would without the router.
        return [Continue(stanza=stanza)]
    pending = None if account is None else account.pending_iqs.get(stanza.id)
    if pending is not None and pending.to != sender:
        # Someone else answering with the id of an IQ sent elsewhere: not the answer
        # (RFC 6120 §8.2.3; ids the router makes are easy to guess).
        return [Discard(stanza=stanza, reason=DiscardReason.UNEXPECTED)]
    if account is None or pending is None:
        if stanza.id.startswith(core.config.id_prefix):
            # An answer to an IQ the router sent and no longer waits for: it answered the
            # session with a timeout already, or this is a second copy.
            return [Discard(stanza=stanza, reason=DiscardReason.STALE)]
        return [Continue(stanza=stanza)]
    del account.pending_iqs[stanza.id]
    core.timers.cancel(("iq", account.jid, stanza.id))
    core.forget_if_idle(account)
    if pending.session_closed:
        return [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
    answer = stanza.replace(to=pending.session, id=pending.original_id)
    return [Deliver(session=pending.session, stanza=answer)]


def iq_timeout(core: Core, account_jid: JID, iq_id: str) -> list[Action]:
    """The room did not answer in time: the session gets ``remote-server-timeout``."""
    account = core.table.accounts[account_jid]
    pending = account.pending_iqs.pop(iq_id)
    core.forget_if_idle(account)
    if pending.session_closed:
        return []
    request = Stanza("iq", type="get", id=pending.original_id)
    error = error_stanza(
        request,
        from_=pending.to,
        to=pending.session,
        condition="remote-server-timeout",
        error_type="wait",
    )
    return [Deliver(session=pending.session, stanza=error)]


def forget_session_iqs(account: Account, session: JID) -> None:
    """A closed session's IQs: their answers, when they come, are discarded."""
    for pending in account.pending_iqs.values():
        if pending.session == session:
            pending.session_closed = True
