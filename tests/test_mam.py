"""MAM queries to a room (XEP-0313 §4): results reach only the session that asked."""

from __future__ import annotations

from helpers import ALICE, LAPTOP, PHONE, Harness, x
from minimix_core import Deliver, Discard, DiscardReason, Send

QUERY = (
    "<iq to='lounge@muc.example.net' type='set' id='{id}'><query xmlns='urn:xmpp:mam:2' {qid}>"
    "<x xmlns='jabber:x:data' type='submit'/></query></iq>"
)
RESULT = """
<message from='lounge@muc.example.net' to='alice@example.org'>
  <result xmlns='urn:xmpp:mam:2' {qid} id='28482-98726-73623'>
    <forwarded xmlns='urn:xmpp:forward:0'>
      <delay xmlns='urn:xmpp:delay' stamp='2026-11-24T10:00:00Z'/>
      <message xmlns='jabber:client' type='groupchat' from='lounge@muc.example.net/bob'><body>old</body></message>
    </forwarded>
  </result>
</message>
"""


def test_same_queryid_from_two_sessions_never_mixes_results() -> None:
    """Each query gets the router's id as queryid; results are mapped back per session."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    assert h.session(PHONE, x(QUERY.format(id="q", qid="queryid='f27'"))) == [
        Send(stanza=x(QUERY.format(id="mmx-1", qid="queryid='mmx-1'")).with_from(ALICE))
    ]
    h.session(LAPTOP, x(QUERY.format(id="q", qid="queryid='f27'")))
    second = x(RESULT.format(qid="queryid='mmx-2'"))
    assert h.room(second) == [
        Deliver(session=LAPTOP, stanza=x(RESULT.format(qid="queryid='f27'")).with_to(LAPTOP))
    ]
    first = x(RESULT.format(qid="queryid='mmx-1'"))
    assert h.room(first) == [
        Deliver(session=PHONE, stanza=x(RESULT.format(qid="queryid='f27'")).with_to(PHONE))
    ]
    fin = x(
        "<iq type='result' from='lounge@muc.example.net' to='alice@example.org' id='mmx-1'>"
        "<fin xmlns='urn:xmpp:mam:2' complete='true'/></iq>"
    )
    assert h.room(fin) == [Deliver(session=PHONE, stanza=fin.replace(to=PHONE, id="q"))]
    # The query is over: a straggling result matches nothing and is not forked as room traffic.
    assert h.room(first) == [Discard(stanza=first, reason=DiscardReason.UNEXPECTED)]


def test_query_without_queryid_gets_results_without_one() -> None:
    """XEP-0313 §4.1: queryid is optional; the session gets results as it asked."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, x(QUERY.format(id="q", qid="")))
    assert h.room(x(RESULT.format(qid="queryid='mmx-1'"))) == [
        Deliver(session=PHONE, stanza=x(RESULT.format(qid="")).with_to(PHONE))
    ]


def test_results_for_a_closed_session_are_discarded() -> None:
    """The asker is gone: its results have nowhere to go."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(LAPTOP, x(QUERY.format(id="q", qid="queryid='a'")))
    h.closed(LAPTOP)
    result = x(RESULT.format(qid="queryid='mmx-1'"))
    assert h.room(result) == [Discard(stanza=result, reason=DiscardReason.NO_SESSION)]


def test_mam_get_is_an_ordinary_iq_and_results_from_elsewhere_are_not_taken() -> None:
    """Only a query set carries a queryid; a result from another room matches nothing."""
    h = Harness()
    h.joined(PHONE)
    form = x(
        "<iq to='lounge@muc.example.net' type='get' id='f'><query xmlns='urn:xmpp:mam:2'/></iq>"
    )
    assert h.session(PHONE, form) == [Send(stanza=form.replace(from_=ALICE, id="mmx-1"))]
    elsewhere = x(RESULT.format(qid="queryid='mmx-1'").replace("lounge@", "garden@", 1))
    assert h.room(elsewhere) == [Discard(stanza=elsewhere, reason=DiscardReason.UNEXPECTED)]


def test_earlier_mam_namespaces_get_their_own_queryid_and_results_too() -> None:
    """XEP-0313 §4 in urn:xmpp:mam:1 (ejabberd still answers it): results for one session.

    Only the mam:2 query and result were recognised: a mam:1 query left with the
    session's queryid, and each result was forked to every session in the room.
    """
    h = Harness()
    h.joined(PHONE, LAPTOP)
    v1 = QUERY.replace("mam:2", "mam:1")
    assert h.session(PHONE, x(v1.format(id="q", qid="queryid='f27'"))) == [
        Send(stanza=x(v1.format(id="mmx-1", qid="queryid='mmx-1'")).with_from(ALICE))
    ]
    found = x(RESULT.replace("mam:2", "mam:1").format(qid="queryid='mmx-1'"))
    restored = x(RESULT.replace("mam:2", "mam:1").format(qid="queryid='f27'"))
    assert h.room(found) == [Deliver(session=PHONE, stanza=restored.with_to(PHONE))]
