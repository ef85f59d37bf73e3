"""A private Prosody 0.12 with mod_account_occupancy and the Python side, on 127.0.0.1.

``python3 tasks.py prosody`` runs :func:`main`: it starts both in a temporary folder,
registers ``alice`` and ``bob``, prints how to connect, and stops both (by pid) on Ctrl-C.
:func:`start` and :func:`stop` are for programs that want the same lab (a test tier).
Standard library only, apart from running ``minimix_prosody.py`` with this interpreter.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "prosody.cfg.lua"
BRIDGE = HERE / "minimix_prosody.py"
DOMAIN = "localhost"
MUC = "conference.localhost"
COMPONENT = "minimix.localhost"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
PLAIN = "plain.localhost"
"""A host without the module: its users are ordinary MUC clients."""
PLAIN_USERS = {"carol": "carol-pw"}
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class LabError(RuntimeError):
    """The lab could not be set up; the message says what happened."""


@dataclass(frozen=True)
class Lab:
    """A running lab: where to reach it, and the two processes' pids."""

    folder: Path
    c2s_port: int
    component_port: int
    secret: str
    prosody_pid: int
    bridge_pid: int

    @property
    def prosody_log(self) -> Path:
        """Prosody's log (info level)."""
        return self.folder / "prosody.log"

    @property
    def bridge_log(self) -> Path:
        """The Python side's log."""
        return self.folder / "minimix.log"

    @property
    def state(self) -> Path:
        """The Python side's snapshot file."""
        return self.folder / "minimix-state.json"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie is as good as stopped
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _env(folder: Path, c2s: int, component: int, secret: str) -> dict[str, str]:
    return dict(
        os.environ,
        MINIMIX_LAB=str(folder),
        MINIMIX_PLUGINS=str(HERE),
        MINIMIX_C2S_PORT=str(c2s),
        MINIMIX_COMPONENT_PORT=str(component),
        MINIMIX_COMPONENT_SECRET=secret,
    )


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=START_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise LabError(f"{args} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def start_prosody(folder: Path, c2s: int, component: int, secret: str) -> int:
    """Start a daemonized Prosody on ``folder``; its pid once both ports listen."""
    env = _env(folder, c2s, component, secret)
    pidfile = folder / "prosody.pid"
    pidfile.unlink(missing_ok=True)
    _run(["prosody", "--config", str(CONFIG), "-D"], env)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text.isdigit() and _listening(c2s) and _listening(component):
            return int(text)
        time.sleep(0.1)
    raise LabError(f"prosody did not come up; see {folder / 'prosody.log'}")


def start_bridge(folder: Path, component: int, secret: str) -> int:
    """Start the Python side (``minimix_prosody.py``) in the background; its pid."""
    env = dict(os.environ, MINIMIX_COMPONENT_SECRET=secret)
    with (folder / "minimix.log").open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(BRIDGE),
                "--component",
                COMPONENT,
                "--port",
                str(component),
                "--state",
                str(folder / "minimix-state.json"),
                "--retry",
                "0.5",
                "--log-level",
                os.environ.get("MINIMIX_LOG_LEVEL", "info"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the lab, which stops it in order
        )
    return process.pid


def start(folder: Path) -> Lab:
    """Prosody with the module, and the Python side, on ``folder``; users registered."""
    for tool in ("prosody", "prosodyctl"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is not installed: apt-get install -y prosody")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "certs").mkdir(exist_ok=True)  # certmanager logs an error when it is missing
    c2s, component = _free_port(), _free_port()
    while component == c2s:
        component = _free_port()
    secret = secrets.token_hex(16)
    env = _env(folder, c2s, component, secret)
    users = [(u, DOMAIN, p) for u, p in USERS.items()]
    users += [(u, PLAIN, p) for u, p in PLAIN_USERS.items()]
    for user, domain, password in users:
        _run(["prosodyctl", "--config", str(CONFIG), "register", user, domain, password], env)
    prosody = start_prosody(folder, c2s, component, secret)
    bridge = start_bridge(folder, component, secret)
    lab = Lab(folder, c2s, component, secret, prosody, bridge)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if "Python side is connected" in lab.prosody_log.read_text(errors="replace"):
            return lab
        if not _alive(bridge):
            break
        time.sleep(0.1)
    stop(lab)
    raise LabError(f"the Python side did not connect; see {lab.bridge_log}")


def stop_pid(pid: int) -> None:
    """SIGTERM ``pid``, then SIGKILL after a while; wait until it is gone."""
    if pid <= 0 or not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap our own child (the Python side)
        if not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop(lab: Lab) -> None:
    """Stop the Python side first (it saves its snapshot), then Prosody; both by pid."""
    stop_pid(lab.bridge_pid)
    stop_pid(lab.prosody_pid)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Run the lab until Ctrl-C (or SIGTERM)."""
    signal.signal(signal.SIGTERM, _interrupt)
    folder = Path(tempfile.mkdtemp(prefix="minimix-prosody-"))
    try:
        lab = start(folder)
    except LabError as exc:
        sys.exit(f"{exc}\n(folder kept: {folder})")
    print(
        f"Prosody (pid {lab.prosody_pid}) and the Python side (pid {lab.bridge_pid}) run in"
        f" {folder}\n"
        f"  c2s:       127.0.0.1:{lab.c2s_port}  (plaintext, no TLS; SASL PLAIN)\n"
        f"  users:     {', '.join(f'{u}@{DOMAIN} / {p}' for u, p in USERS.items())}\n"
        f"  without the module: {', '.join(f'{u}@{PLAIN} / {p}' for u, p in PLAIN_USERS.items())}\n"
        f"  rooms:     anything@{MUC}\n"
        f"  component: {COMPONENT} on 127.0.0.1:{lab.component_port}\n"
        f"  logs:      {lab.prosody_log}, {lab.bridge_log}\n"
        "Connect a client to 127.0.0.1 on that port with plaintext authentication allowed\n"
        "(e.g. as alice from two devices) and join a room. Ctrl-C stops both.",
        flush=True,
    )
    try:
        while _alive(lab.prosody_pid) and _alive(lab.bridge_pid):
            time.sleep(0.5)
        print("a process ended by itself; stopping the other", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        stop(lab)
        print(f"stopped; data left in {folder}")


if __name__ == "__main__":
    main()
