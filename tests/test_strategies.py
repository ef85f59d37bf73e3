"""The public Hypothesis strategies of minimix_core.testing, for users' own tests."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given

from minimix_core import JID, Element, Stanza, parse_stanza, serialize
from minimix_core.testing import jids, payloads, stanzas


@given(jids(bare=True), jids(bare=False), jids())
def test_jid_pools(bare: JID, full: JID, any_jid: JID) -> None:
    """bare=True gives bare JIDs, bare=False full ones, the default either."""
    assert bare.is_bare
    assert not full.is_bare
    assert JID.parse(str(any_jid)) == any_jid


@given(payloads())
def test_payloads_are_elements(children: tuple[Element, ...]) -> None:
    """Payload mixes are tuples of immutable elements."""
    assert all(isinstance(child, Element) for child in children)


@given(stanzas())
def test_generated_stanzas_survive_the_xml_edge(stanza: Stanza) -> None:
    """What the strategies make, the XML edge writes and reads back unchanged."""
    assert parse_stanza(serialize(stanza)) == stanza


def test_without_hypothesis_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """With Hypothesis missing, a strategy fails with one actionable ImportError."""
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.delitem(sys.modules, "minimix_core.testing._strategies", raising=False)
    with pytest.raises(ImportError) as caught:
        jids()
    assert str(caught.value) == (
        "minimix_core.testing strategies need Hypothesis: pip install minimix_core[testing]"
    )
    assert caught.value.name == "hypothesis"
    assert not isinstance(caught.value, ModuleNotFoundError)
