"""The real-server tier: minimix_core behind an XEP-0114 component, against Prosody 0.12.

Run it with ``python3 interop.py`` from the repository root. A package (this file) so
that its ``conftest.py`` does not clash with ``tests/conftest.py`` as a module name.
"""
