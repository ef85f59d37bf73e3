"""A private Prosody 0.12 on 127.0.0.1 for the interop tier: start, register users, stop.

Standard library only: conftest.py imports this module even in runs that collect nothing
here. The configuration is ``prosody.cfg.lua`` beside this file; everything variable
(folder, ports, secret) reaches it through ``ENV_*`` names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

CONFIG = Path(__file__).with_name("prosody.cfg.lua")
DOMAIN = "localhost"
MUC = "conference.localhost"
COMPONENT = "users.localhost"
SECRET = "lab-secret"
USERS: Mapping[str, str] = MappingProxyType({"bob": "bob-pw", "carol": "carol-pw"})
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class LabError(RuntimeError):
    """Prosody could not be set up; the message says what happened and how to fix it."""


@dataclass(frozen=True)
class Lab:
    """A running Prosody: where to reach it and with which credentials."""

    folder: Path
    c2s_port: int
    component_port: int
    pid: int
    secret: str = SECRET
    component: str = COMPONENT
    muc: str = MUC
    domain: str = DOMAIN
    config: Path = CONFIG
    """The Prosody configuration it runs with (other tiers bring their own)."""
    users: Mapping[str, str] = field(default_factory=lambda: USERS)
    """Registered c2s users and their passwords: ``name`` on ``domain``, or ``name@host``."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables the configuration reads (``ENV_*``), kept for restarts."""

    @property
    def log(self) -> Path:
        """Prosody's log file (info level)."""
        return self.folder / "prosody.log"

    def password(self, user: str) -> str:
        """The password of a registered c2s user."""
        return self.users[user]

    def log_tail(self, lines: int = 40) -> str:
        """The end of Prosody's log, for failure messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    try:
        result = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=START_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what} did not finish in {START_TIMEOUT:.0f} s: {args}") from exc
    if result.returncode != 0:
        raise LabError(
            f"{what} failed ({result.returncode}): {args}\n{result.stdout}{result.stderr}"
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process: not ours
        return False
    try:  # a zombie whose parent is gone is as good as stopped
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def start(
    folder: Path,
    *,
    config: Path = CONFIG,
    users: Mapping[str, str] = USERS,
    env: Mapping[str, str] | None = None,
) -> Lab:
    """Start a daemonized Prosody with its data in ``folder``; raise :class:`LabError`.

    ``config`` (this tier's file by default), ``users`` to register and the extra ``env``
    the configuration reads let other tiers run their own Prosody the same way.
    """
    for tool in ("prosody", "prosodyctl"):
        if shutil.which(tool) is None:
            raise LabError(
                f"{tool} is not installed. The interop tier needs Debian's Prosody 0.12: "
                "apt-get update && apt-get install -y prosody"
            )
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "certs").mkdir(exist_ok=True)  # certmanager logs an error when it is missing
    c2s_port, component_port = _free_port(), _free_port()
    while component_port == c2s_port:
        component_port = _free_port()
    extra = dict(env or {})
    environ = dict(
        os.environ,
        MINIMIX_LAB=str(folder),
        MINIMIX_C2S_PORT=str(c2s_port),
        MINIMIX_COMPONENT_PORT=str(component_port),
        MINIMIX_SECRET=SECRET,
        **extra,
    )
    args = ["--config", str(config)]
    for user, password in users.items():
        name, _, host = user.partition("@")  # a plain name is a user of DOMAIN
        _run(
            ["prosodyctl", *args, "register", name, host or DOMAIN, password],
            environ,
            "prosodyctl register",
        )
    _run(["prosody", *args, "-D"], environ, "prosody -D")
    pidfile = folder / "prosody.pid"
    deadline = time.monotonic() + START_TIMEOUT
    pid: int | None = None
    while time.monotonic() < deadline:
        if pid is None and pidfile.exists():
            text = pidfile.read_text().strip()
            pid = int(text) if text.isdigit() else None
        if pid is not None and _listening(c2s_port) and _listening(component_port):
            return Lab(folder, c2s_port, component_port, pid, config=config, users=users, env=extra)
        if pid is not None and not _alive(pid):
            break
        time.sleep(0.1)
    lab = Lab(folder, c2s_port, component_port, pid or 0, config=config, users=users, env=extra)
    if pid is not None:
        stop(lab)
    raise LabError(
        f"prosody did not come up on 127.0.0.1:{c2s_port} (c2s) and :{component_port} "
        f"(component) within {START_TIMEOUT:.0f} s; pidfile {pidfile} "
        f"{'has ' + str(pid) if pid else 'never appeared'}.\nLog tail:\n{lab.log_tail()}"
    )


def stop(lab: Lab) -> None:
    """Stop Prosody by the pid in its pidfile: SIGTERM, then SIGKILL after a while."""
    if lab.pid <= 0 or not _alive(lab.pid):
        return
    os.kill(lab.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not _alive(lab.pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(lab.pid, signal.SIGKILL)


def restart(lab: Lab, *, crash: bool = False) -> Lab:
    """Stop Prosody by pid and start it again on the same folder and ports; the new :class:`Lab`.

    ``crash=False`` stops it with SIGTERM: Prosody 0.12 then saves every live room with
    its occupants (``room:freeze(true)``) and restores them on start, so the rooms still
    count their old occupants. ``crash=True`` kills it (SIGKILL), as a crash or an
    out-of-memory kill would: a persistent room comes back from its stored configuration,
    with no occupants, and its message archive. Registered users stay (same data folder).
    Callers own the returned lab: the old one's pid is gone.
    """
    if crash and lab.pid > 0 and _alive(lab.pid):
        os.kill(lab.pid, signal.SIGKILL)
    stop(lab)  # SIGTERM, or only the wait for the killed process to be gone
    if lab.pid > 0 and _alive(lab.pid):
        raise LabError(f"prosody (pid {lab.pid}) did not stop within {STOP_TIMEOUT:.0f} s")
    pidfile = lab.folder / "prosody.pid"
    pidfile.unlink(missing_ok=True)  # a killed Prosody leaves it behind, with the old pid
    env = dict(
        os.environ,
        MINIMIX_LAB=str(lab.folder),
        MINIMIX_C2S_PORT=str(lab.c2s_port),
        MINIMIX_COMPONENT_PORT=str(lab.component_port),
        MINIMIX_SECRET=lab.secret,
        **lab.env,
    )
    _run(["prosody", "--config", str(lab.config), "-D"], env, "prosody -D")
    deadline = time.monotonic() + START_TIMEOUT
    pid: int | None = None
    while time.monotonic() < deadline:
        if pid is None and pidfile.exists():
            text = pidfile.read_text().strip()
            pid = int(text) if text.isdigit() else None
        if pid is not None and _listening(lab.c2s_port) and _listening(lab.component_port):
            return dataclasses.replace(lab, pid=pid)
        if pid is not None and not _alive(pid):
            break
        time.sleep(0.1)
    again = dataclasses.replace(lab, pid=pid or 0)
    if pid is not None:
        stop(again)
    raise LabError(
        f"prosody did not come back on 127.0.0.1:{lab.c2s_port} (c2s) and "
        f":{lab.component_port} (component) within {START_TIMEOUT:.0f} s.\n"
        f"Log tail:\n{again.log_tail()}"
    )
