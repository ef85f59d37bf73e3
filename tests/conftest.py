"""Test configuration: Hypothesis profiles.

``default`` keeps the whole test command under a few minutes on two cores; ``long`` (set
``HYPOTHESIS_PROFILE=long``) runs many more examples per property. Under CI (``CI`` set)
the examples are derandomized, so a run repeats exactly: new random stories are for
developers' runs and ``python3 tasks.py chaos``, whose failures become tests.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
for _name in ("default", "long") if os.environ.get("CI") else ():
    settings.register_profile(_name, settings.get_profile(_name), derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
