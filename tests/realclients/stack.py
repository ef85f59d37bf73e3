"""The server side of the real-client tier: Prosody, with or without the module, and its Python side.

Every scenario runs twice (:data:`MODES`): ``direct``, an unmodified Prosody where each
client joins rooms itself, and ``module``, the same Prosody with ``hosts/prosody`` loaded
and its Python side (minimix_core's router behind XEP-0114) running, so the account joins.
Prosody is started by :mod:`tests.interop.lab` with this tier's configuration. Standard
library only: the conftest imports this in runs that collect nothing here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from interop.lab import Lab, LabError, restart, start, stop

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONFIG = HERE / "prosody.cfg.lua"
HOST = ROOT / "hosts" / "prosody"
PYTHON_SIDE = HOST / "minimix_prosody.py"
COMPONENT = "minimix.localhost"
ELSEWHERE = "elsewhere.localhost"
"""A second user host, never with the module: its users join rooms directly in both modes."""
USERS = MappingProxyType(
    {
        "alice": "alice-pw",
        "bob": "bob-pw",
        "mod": "mod-pw",
        "carol": "carol-pw",
        f"dave@{ELSEWHERE}": "dave-pw",
    }
)
"""alice has the devices; bob and mod (the rooms' owner) are other occupants, on the same
host (so through the module they are accounts too); carol runs poezio; dave is elsewhere."""
DIRECT = "direct"
MODULE = "module"
MODES = (DIRECT, MODULE)
CONNECT_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
AUTHENTICATED = "External component successfully authenticated"
"""What Prosody 0.12's mod_component logs (info) when the Python side is in."""


def _alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


@dataclass
class Stack:
    """A running server for one mode: Prosody, and in ``module`` mode the Python side."""

    mode: str
    lab: Lab
    python_side: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)
    """How many times the Python side was started (its log is appended to each time)."""
    side_args: tuple[str, ...] = ()
    """Extra options for the Python side (``--keepalive-idle 1``, ``--config KEY=VALUE``)."""

    @property
    def module(self) -> bool:
        """Whether the account joins (the module is loaded)."""
        return self.mode == MODULE

    @property
    def pids(self) -> list[int]:
        """The processes whose CPU time the throughput run counts: Prosody, the Python side."""
        side = [self.python_side.pid] if self.python_side is not None else []
        return [self.lab.pid, *side]

    @property
    def side_log(self) -> Path:
        """Where the Python side's output goes."""
        return self.lab.folder / "python-side.log"

    @property
    def state_file(self) -> Path:
        """The Python side's snapshot (``--state``)."""
        return self.lab.folder / "router-state.json"

    def _authenticated(self) -> int:
        try:
            return self.lab.log.read_text(errors="replace").count(AUTHENTICATED)
        except OSError:
            return 0

    def start_python_side(self) -> None:
        """Start the Python side and wait until Prosody has authenticated it."""
        before = self._authenticated()
        env = dict(os.environ, MINIMIX_COMPONENT_SECRET=self.lab.secret)
        command = [
            sys.executable,
            str(PYTHON_SIDE),
            "--component",
            COMPONENT,
            "--server",
            "127.0.0.1",
            "--port",
            str(self.lab.component_port),
            "--state",
            str(self.state_file),
            "--retry",
            "0.2",
            "--log-level",
            os.environ.get("MINIMIX_LOG_LEVEL", "info").upper(),
            *self.side_args,
        ]
        with self.side_log.open("ab") as log:
            self.python_side = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while time.monotonic() < deadline:
            if self._authenticated() > before:
                return
            if not _alive(self.python_side):
                break
            time.sleep(0.05)
        self.stop_python_side()
        raise LabError(
            f"the Python side ({' '.join(command)}) did not connect to Prosody within "
            f"{CONNECT_TIMEOUT:.0f} s.\nIts log:\n{self.side_log_tail()}\n"
            f"Prosody's log:\n{self.lab.log_tail()}"
        )

    def stop_python_side(self, *, kill: bool = False) -> None:
        """Stop the Python side by pid: SIGTERM (it saves its snapshot) or SIGKILL."""
        process = self.python_side
        if process is None:
            return
        self.python_side = None
        if _alive(process):
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def side_log_tail(self, lines: int = 40) -> str:
        """The end of the Python side's log, for failure messages."""
        try:
            text = self.side_log.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def shell(self, line: str) -> str:
        """Run one line in Prosody's admin shell (``prosodyctl shell``); its output.

        A line starting with ``>`` is Lua run inside the server (mod_admin_shell).
        """
        env = dict(
            os.environ,
            MINIMIX_LAB=str(self.lab.folder),
            MINIMIX_C2S_PORT=str(self.lab.c2s_port),
            MINIMIX_COMPONENT_PORT=str(self.lab.component_port),
            MINIMIX_SECRET=self.lab.secret,
            **self.lab.env,
        )
        done = subprocess.run(
            ["prosodyctl", "--config", str(self.lab.config), "shell", line],
            env=env,
            capture_output=True,
            text=True,
            timeout=CONNECT_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise LabError(f"prosodyctl shell {line!r} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def restart_prosody(self, *, crash: bool = False) -> None:
        """Stop Prosody by pid (SIGKILL with ``crash``) and start it again on the same data."""
        self.lab = restart(self.lab, crash=crash)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def start_stack(mode: str, folder: Path, side_args: tuple[str, ...] = ()) -> Stack:
    """Start the server side of ``mode`` with its data in ``folder``; raise :class:`LabError`.

    ``side_args`` go to the Python side's command line (``module`` mode only).
    """
    if mode == MODULE and not (HOST / "mod_account_occupancy.lua").exists():
        raise LabError(f"the module side needs the Prosody host in {HOST}; it is not there")
    if mode == MODULE and not PYTHON_SIDE.exists():
        raise LabError(f"the module side needs its Python side, {PYTHON_SIDE}; it is not there")
    env = {"MINIMIX_MODULE": "1" if mode == MODULE else "0", "MINIMIX_PLUGINS": str(HOST)}
    lab = start(folder, config=CONFIG, users=USERS, env=env)
    stack = Stack(mode, lab, side_args=side_args)
    if mode == MODULE:
        try:
            stack.start_python_side()
        except BaseException:
            stop(lab)
            raise
    return stack


def stop_stack(stack: Stack) -> None:
    """Stop everything :func:`start_stack` started, by pid."""
    with contextlib.suppress(Exception):
        stack.stop_python_side()
    stop(stack.lab)
