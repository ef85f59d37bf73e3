"""The real-client tier: Debian's Prosody with real clients as the devices of an account.

Run it with ``python3 realclients.py`` from the repository root. A package so that its
``conftest.py`` does not clash with the other ones as a module name.
"""
