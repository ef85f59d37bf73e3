"""A private ejabberd 23.01 on 127.0.0.1 for the interop tier: start, register users, stop.

Standard library only, like ``tests/interop/lab.py``, whose :class:`Lab` this lab's
value extends: the harness reads both the same way.

Debian's ``ejabberdctl`` is the only supported way to run the packaged node, and when
it is called by root it runs everything as the ``ejabberd`` user (``su``). So the lab
keeps its files in a private folder of the system's temporary directory owned by that
user (pytest's own temporary folders are closed to other users); :func:`stop` copies
the log into the pytest folder and removes the private one. Every ``ejabberdctl``
call gets its own configuration through the command line and a private
``ejabberdctl.cfg``:

* ``--config``: ``ejabberd.yml`` beside this file, behind a ``define_macro:`` block
  with this run's ports and secret;
* ``--spool``, ``--logs``: the private folder (Mnesia data, ``ejabberd.log``);
* ``ejabberdctl.cfg``: a node name and cookie of this run, ``EJABBERD_PID_PATH``, and
  ``ERL_DIST_PORT`` so that the Erlang distribution listens on one port of 127.0.0.1
  and no ``epmd`` is started or used.

The node is started detached (``ejabberdctl start``), found by its pidfile, and stopped
by that pid (SIGTERM, then SIGKILL). :func:`restart` stops it by pid (SIGKILL for a
crash, SIGTERM for an orderly stop) and starts it again on the same files and ports.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..lab import SECRET, USERS, Lab, LabError, _alive, _free_port, _listening

CONFIG = Path(__file__).with_name("ejabberd.yml")
DEBIAN_CTL = "/usr/sbin/ejabberdctl"
INSTALL_USER = "ejabberd"
"""The user Debian's ejabberdctl runs the node as (its ``INSTALLUSER``)."""
START_TIMEOUT = 30.0
CTL_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
STORE_TIMEOUT = 5.0
MNESIA_FILES = ("LATEST.LOG", "*.DCD", "*.DCL")
"""Where Mnesia keeps the disc tables (persistent rooms among them) in the spool."""

__all__ = ["EjabberdLab", "LabError", "restart", "start", "stop"]


@dataclass(frozen=True)
class EjabberdLab(Lab):
    """A running ejabberd: where to reach it, as :class:`Lab` says, and how to control it."""

    private: Path = Path()
    """The folder ejabberd works in (removed by :func:`stop`)."""
    node: str = ""
    """The Erlang node name of this run."""

    @property
    def log(self) -> Path:
        """ejabberd's log file (info level); in the pytest folder once stopped."""
        live = self.private / "logs" / "ejabberd.log"
        running = self.private != Path() and live.exists()
        return live if running else self.folder / "ejabberd.log"

    def ctl(self, *args: str) -> list[str]:
        """The command line of ``ejabberdctl`` for this node."""
        return _ctl(self.private, *args)

    def wait_stored(self, text: str, timeout: float = STORE_TIMEOUT) -> None:
        """Wait until Mnesia's files in the spool hold ``text`` (a room's name, say).

        Mnesia logs a committed write to ``LATEST.LOG`` about a second later (the file is
        written lazily); a node killed before that comes back without it, as if the
        write never happened. Once the bytes are in a file, a SIGKILL cannot lose them.
        """
        wanted = text.encode()
        spool = self.private / "spool"
        deadline = time.monotonic() + timeout
        while True:
            for pattern in MNESIA_FILES:
                for path in spool.glob(pattern):
                    with contextlib.suppress(OSError):
                        if wanted in path.read_bytes():
                            return
            if time.monotonic() >= deadline:
                raise LabError(f"{text!r} did not reach ejabberd's spool {spool} in {timeout} s")
            time.sleep(0.1)


def _ejabberdctl() -> str | None:
    """Where ``ejabberdctl`` is: on PATH, or where Debian puts it (/usr/sbin)."""
    found = shutil.which("ejabberdctl")
    if found is None and Path(DEBIAN_CTL).is_file():
        found = DEBIAN_CTL
    return found


def _ctl(private: Path, *args: str) -> list[str]:
    return [
        _ejabberdctl() or "ejabberdctl",
        "--ctl-config",
        str(private / "ejabberdctl.cfg"),
        "--config",
        str(private / "ejabberd.yml"),
        "--spool",
        str(private / "spool"),
        "--logs",
        str(private / "logs"),
        *args,
    ]


def _run(args: list[str], what: str) -> str:
    try:
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=CTL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what} did not finish in {CTL_TIMEOUT:.0f} s: {args}") from exc
    if result.returncode != 0:
        raise LabError(
            f"{what} failed ({result.returncode}): {shlex.join(args)}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def _owner() -> tuple[int, int] | None:
    """The uid and gid the private folder must belong to (None: the current user's)."""
    if os.geteuid() != 0:
        if pwd.getpwuid(os.geteuid()).pw_name == INSTALL_USER:
            return None
        raise LabError(
            f"Debian's ejabberdctl runs only as root or as the {INSTALL_USER!r} user; "
            "run the interop tier as root (as CI does)"
        )
    try:
        entry = pwd.getpwnam(INSTALL_USER)
    except KeyError as exc:
        raise LabError(
            f"there is no {INSTALL_USER!r} user: is Debian's ejabberd package installed?"
        ) from exc
    return entry.pw_uid, entry.pw_gid


def _node_pid(node: str) -> int | None:
    """The pid of the Erlang VM running the node ``node`` (a name unique to this run)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if node.encode() in argv and any(arg.endswith(b"beam.smp") for arg in argv[:1]):
            return int(proc.name)
    return None


def _prepare(private: Path, node: str, c2s_port: int, component_port: int, dist: int) -> None:
    owner = _owner()
    for sub in ("spool", "logs"):
        (private / sub).mkdir()
    macros = (
        "define_macro:\n"
        f"  C2S_PORT: {c2s_port}\n"
        f"  COMPONENT_PORT: {component_port}\n"
        f'  COMPONENT_SECRET: "{SECRET}"\n\n'
    )
    (private / "ejabberd.yml").write_text(macros + CONFIG.read_text())
    cookie = secrets.token_hex(16)
    options = f"-setcookie {cookie} -kernel inet_dist_use_interface {{127,0,0,1}}"
    settings = {
        "ERLANG_NODE": node,
        "ERL_DIST_PORT": str(dist),
        "ERL_OPTIONS": f"-env ERL_CRASH_DUMP_BYTES 0 {options}",
        "EJABBERD_PID_PATH": str(private / "ejabberd.pid"),
        "EJABBERD_BYPASS_WARNINGS": "true",
    }
    (private / "ejabberdctl.cfg").write_text(
        "".join(f"{name}={shlex.quote(value)}\n" for name, value in settings.items())
    )
    if owner is not None:
        for path in (private, *private.iterdir()):
            os.chown(path, *owner)


def _failed(private: Path, since: int = 0) -> str | None:
    """The first critical line of the log after its first ``since`` bytes: ejabberd gave up."""
    with contextlib.suppress(OSError):
        with (private / "logs" / "ejabberd.log").open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        for line in text.splitlines():
            if "[critical]" in line:
                return line
    return None


def _log_size(private: Path) -> int:
    try:
        return (private / "logs" / "ejabberd.log").stat().st_size
    except OSError:
        return 0


def start(folder: Path) -> EjabberdLab:
    """Start a detached ejabberd, register the users; raise :class:`LabError` on failure.

    ``folder`` (a pytest temporary folder) receives the log when the lab stops.
    """
    if _ejabberdctl() is None:
        raise LabError(
            "ejabberdctl is not installed. The ejabberd interop tier needs Debian's "
            "ejabberd 23.01: apt-get update && apt-get install -y ejabberd"
        )
    private = Path(tempfile.mkdtemp(prefix="minimix-ejabberd-"))
    node = f"minimix-{secrets.token_hex(4)}@localhost"
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(_free_port())
    c2s_port, component_port, dist_port = sorted(ports)
    lab = EjabberdLab(folder, c2s_port, component_port, 0, private=private, node=node)
    try:
        _prepare(private, node, c2s_port, component_port, dist_port)
        _run(lab.ctl("start"), "ejabberdctl start")
        lab = _wait_started(lab)
        for user, password in USERS.items():
            _run(lab.ctl("register", user, lab.domain, password), "ejabberdctl register")
    except BaseException:
        stop(lab)
        raise
    return lab


def _wait_started(lab: EjabberdLab, log_from: int = 0) -> EjabberdLab:
    pidfile = lab.private / "ejabberd.pid"
    deadline = time.monotonic() + START_TIMEOUT
    pid: int | None = None
    problem = None
    while time.monotonic() < deadline:
        if pid is None and pidfile.exists():
            text = pidfile.read_text().strip()
            pid = int(text) if text.isdigit() else None
        if pid is not None and _listening(lab.c2s_port) and _listening(lab.component_port):
            return EjabberdLab(
                lab.folder,
                lab.c2s_port,
                lab.component_port,
                pid,
                private=lab.private,
                node=lab.node,
            )
        problem = _failed(lab.private, log_from)
        if problem is not None or (pid is not None and not _alive(pid)):
            break
        time.sleep(0.1)
    why = f"it gave up: {problem}" if problem else f"not within {START_TIMEOUT:.0f} s"
    raise LabError(
        f"ejabberd did not come up on 127.0.0.1:{lab.c2s_port} (c2s) and "
        f":{lab.component_port} (component), {why}; pidfile {pidfile} "
        f"{'has ' + str(pid) if pid else 'never appeared'}.\nLog tail:\n{lab.log_tail()}"
    )


def _terminate(lab: EjabberdLab) -> int | None:
    """Stop the node by its pid (SIGTERM, then SIGKILL after a while); the pid, if any."""
    pid = lab.pid if lab.pid > 0 else _node_pid(lab.node)
    if pid is not None and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return pid


def stop(lab: EjabberdLab) -> None:
    """Stop ejabberd by its pid (SIGTERM, then SIGKILL); keep its log; remove its files."""
    _terminate(lab)
    if lab.private == Path() or not lab.private.is_dir():
        return
    with contextlib.suppress(OSError):
        for log in (lab.private / "logs").glob("*"):
            shutil.copyfile(log, lab.folder / log.name)
    shutil.rmtree(lab.private, ignore_errors=True)


def restart(lab: EjabberdLab, *, crash: bool = False) -> EjabberdLab:
    """Stop ejabberd by pid and start it again on the same files and ports; the new lab.

    ``crash=True`` kills the node (SIGKILL), as a crash or an out-of-memory kill would;
    ``crash=False`` stops it with SIGTERM, which the Erlang VM takes for an orderly
    ``init:stop()``. Either way the same spool (Mnesia: users, persistent rooms, archive),
    configuration, node name and ports serve the new node. Callers own the returned lab
    and stop that one: the old one's pid is gone, and both share the same files.
    """
    if crash and lab.pid > 0 and _alive(lab.pid):
        os.kill(lab.pid, signal.SIGKILL)
    pid = _terminate(lab)  # SIGTERM, or only the wait for the killed node to be gone
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid is not None and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid is not None and _alive(pid):
        raise LabError(f"ejabberd (pid {pid}) did not stop within {STOP_TIMEOUT:.0f} s")
    (lab.private / "ejabberd.pid").unlink(missing_ok=True)  # a killed node leaves it behind
    down = EjabberdLab(
        lab.folder, lab.c2s_port, lab.component_port, 0, private=lab.private, node=lab.node
    )
    log_from = _log_size(lab.private)
    try:
        _run(down.ctl("start"), "ejabberdctl start (restart)")
        return _wait_started(down, log_from)
    except BaseException:
        stop(down)
        raise
