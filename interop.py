"""Run the real-server tier: ``python3 interop.py`` (extra arguments go to pytest).

The tier (``tests/interop``) starts Debian's Prosody 0.12 (and, in ``tests/interop/ejabberd``,
Debian's ejabberd) on 127.0.0.1, connects the
example component (``examples/component.py``) and real c2s clients (slixmpp), and checks
what both sides see. It needs the virtual environment that ``python3 tasks.py test``
creates, slixmpp in it, and ``apt-get install -y prosody ejabberd``. The default test run never
collects this tier: ``tests/interop/conftest.py`` ignores it unless ``MINIMIX_INTEROP=1``,
which this script sets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PY = ROOT / ".venv" / ("Scripts" if os.name == "nt" else "bin") / "python"
TIMEOUT = 600
"""Seconds the whole tier may take; every wait inside it is bounded far below this."""


def main() -> int:
    """Run pytest on ``tests/interop`` with the tier switched on; return its exit code."""
    return run_tier("tests/interop", "MINIMIX_INTEROP", TIMEOUT, sys.argv[1:])


def run_tier(folder: str, switch: str, timeout: float, extra: list[str]) -> int:
    """Run pytest on ``folder`` with the variable ``switch`` set to 1, bounded by ``timeout`` s.

    The real-server tiers (this one, ``realclients.py``) share it; ``extra`` goes to pytest.
    """
    if not PY.exists():
        print(
            f"{PY} is missing: run `python3 tasks.py test` first to create .venv", file=sys.stderr
        )
        return 2
    check = subprocess.run([PY, "-c", "import slixmpp"], capture_output=True, check=False)
    if check.returncode != 0:
        print(
            "slixmpp is not installed in .venv; the tier's c2s clients need it:\n"
            f"  {PY} -m pip install slixmpp==1.17.0",
            file=sys.stderr,
        )
        return 2
    command = [
        str(PY),
        "-m",
        "pytest",
        folder,
        "-p",
        "no:cacheprovider",
        "-o",
        f"testpaths={folder}",
        *extra,
    ]
    print("+", " ".join(command), flush=True)
    env = dict(os.environ, **{switch: "1"})
    with subprocess.Popen(command, cwd=ROOT, env=env) as pytest:
        try:
            return pytest.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"{folder} took longer than {timeout} s; stopping it", file=sys.stderr)
            pytest.send_signal(signal.SIGINT)  # pytest still runs its teardown: Prosody stops
            try:
                pytest.wait(30)
            except subprocess.TimeoutExpired:
                pytest.kill()
            return 1


if __name__ == "__main__":
    sys.exit(main())
