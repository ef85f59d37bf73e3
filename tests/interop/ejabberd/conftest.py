"""The ejabberd lab for the scenarios of this folder; collected only with ``MINIMIX_INTEROP=1``.

``tests/interop/conftest.py`` keeps this folder out of the default run too (it ignores
every path below it). Here the session fixture ``lab`` is redefined: every test of this
folder, and the ``room`` fixture it uses, gets ejabberd instead of Prosody. The
scenarios themselves are the Prosody tier's, imported by the ``test_*.py`` modules of
this folder; where ejabberd answers differently, the module replaces the scenario by one
that asserts ejabberd's behaviour and says how it differs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .lab import EjabberdLab, LabError, start, stop


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EjabberdLab]:
    """Debian's ejabberd on 127.0.0.1 with fresh data, for the whole run; stopped by pid."""
    problem = None
    try:
        server = start(tmp_path_factory.mktemp("ejabberd"))
    except LabError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"the ejabberd interop tier needs a running ejabberd: {problem}", pytrace=False)
    try:
        yield server
    finally:
        stop(server)
