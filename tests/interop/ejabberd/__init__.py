"""The interop tier against Debian's ejabberd 23.01 instead of Prosody (see conftest.py)."""
