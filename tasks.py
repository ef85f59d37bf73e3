"""The project's tasks: ``python3 tasks.py demo`` and ``python3 tasks.py test``, then the rest.

The longer tiers, the benchmarks and the labs follow (``python3 tasks.py --help`` lists
them all). Each one creates ``.venv`` (standard library ``venv``) and installs the project with its
development tools on first use, so a machine with only Python 3.11 and the package registry
needs nothing else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".installed"


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    """Run one command from the repository root; stop the task if it fails."""
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    """Create the virtual environment and install the project, when pyproject changed."""
    pyproject = ROOT / "pyproject.toml"
    if STAMP.exists() and STAMP.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(PY, "-m", "pip", "install", "-q", "--upgrade", "pip")
    run(PY, "-m", "pip", "install", "-q", "-e", ".[dev,docs]")
    STAMP.touch()


def demo() -> None:
    """Run the narrated demo scenario."""
    run(PY, "-m", "minimix_core", "demo")


def test() -> None:
    """Run every check: lint, format, types, the test suite with coverage."""
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "mypy")
    env = dict(os.environ, PYTHONDEVMODE="1")
    run(PY, "-bb", "-m", "coverage", "run", "-m", "pytest", env=env)
    run(PY, "-m", "coverage", "report")
    run(PY, "benchmarks/run.py", "--quick")  # once each, small: so they cannot rot
    build_docs()


def quick() -> None:
    """The test suite alone, without coverage, for the edit-and-test loop.

    Extra arguments go to pytest (``python3 tasks.py quick tests/test_join.py -x``). It checks
    less than ``test``, which is still the command to run before a commit.
    """
    run(PY, "-m", "pytest", *sys.argv[2:])


def long() -> None:
    """The property tests with the long Hypothesis profile (many more examples)."""
    env = dict(os.environ, HYPOTHESIS_PROFILE="long")
    run(
        PY,
        "-m",
        "pytest",
        "tests/test_transparency.py",
        "tests/test_properties.py",
        "tests/test_faults_property.py",
        env=env,
    )


def interop() -> None:
    """The real-server tier: Debian's Prosody and ejabberd on 127.0.0.1.

    Needs ``apt-get install prosody ejabberd`` (run as root: Debian's ejabberdctl insists).
    """
    run(PY, "interop.py")


def realclients() -> None:
    """The real-client tier: slixmpp devices and poezio on Debian's Prosody with the module.

    Every scenario runs through the module and as a plain direct join. Needs ``apt-get
    install prosody poezio tmux``.
    """
    run(PY, "realclients.py")


def prosody() -> None:
    """Debian's Prosody 0.12 with mod_account_occupancy and its Python side, until Ctrl-C.

    Two users (alice, bob) on ``localhost``; hosts/prosody/README.md says the rest.
    """
    print("+", PY, "hosts/prosody/lab.py", flush=True)
    process = subprocess.Popen([str(PY), "hosts/prosody/lab.py"], cwd=ROOT)
    while True:
        try:
            sys.exit(process.wait())
        except KeyboardInterrupt:
            continue  # Ctrl-C reaches the lab too: it stops both servers, then ends


def build_docs() -> None:
    """The Sphinx site with warnings as errors, and every example in it run as a doctest."""
    sphinx = ("-W", "--keep-going", "-q", "-b")
    run(BIN / "sphinx-build", *sphinx, "html", "docs", "docs/_build/html")
    run(BIN / "sphinx-build", *sphinx, "doctest", "docs", "docs/_build/doctest")


def chaos() -> None:
    """Seeded fault stories: the router, the simulated service, a faulty network between.

    ``python3 tasks.py chaos --seed N --stories M [--steps K]``: prints each failing story,
    shrunk, as a replay script (docs/replay.md), then stories run, faults injected, failures.
    """
    run(PY, "-m", "minimix_core.testing._chaos", *sys.argv[2:])


def bench() -> None:
    """The full benchmarks; they rewrite docs/performance.md (a few minutes)."""
    run(PY, "benchmarks/run.py", "--write", "docs/performance.md")


TASKS = {
    "demo": demo,
    "test": test,
    "quick": quick,
    "long": long,
    "interop": interop,
    "realclients": realclients,
    "bench": bench,
    "prosody": prosody,
    "docs": build_docs,
    "chaos": chaos,
}


def usage() -> str:
    """Each task with the first line of what it does."""
    lines = ["usage: python3 tasks.py TASK [arguments]", ""]
    for name, task in TASKS.items():
        summary = (task.__doc__ or "").strip().splitlines()[0]
        lines.append(f"  {name:<12} {summary}")
    lines += ["", "quick takes pytest arguments; chaos takes [--seed N] [--stories M] [--steps K]"]
    return "\n".join(lines)


def main() -> None:
    """Dispatch ``python3 tasks.py TASK``."""
    if sys.argv[1:] in (["--help"], ["-h"], ["help"]):
        print(usage())
        return
    takes_arguments = len(sys.argv) > 2 and sys.argv[1] in ("quick", "chaos")
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS or (len(sys.argv) > 2 and not takes_arguments):
        sys.exit(usage())
    ensure_venv()
    TASKS[sys.argv[1]]()


if __name__ == "__main__":
    main()
