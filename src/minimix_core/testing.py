"""Test helpers for code that talks to MUC rooms: a simulated XEP-0045 service.

:class:`MUCService` stands in for a real MUC component in your own tests. It is a
deterministic, sans-IO model of Prosody 0.12's ``mod_muc``: hand it the stanzas your code
sends, get back the stanzas the service would send, and assert on them.

>>> from minimix_core import JID
>>> from minimix_core.testing import MUCService
>>> service = MUCService("conference.example.net")
>>> room = service.create_room("lounge", subject="Welcome")
>>> service.subject(room)
'Welcome'
"""

from ._simservice import MUCService

__all__ = ["MUCService"]
