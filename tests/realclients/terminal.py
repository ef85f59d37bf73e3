"""poezio, a terminal XMPP client, driven in a private tmux server: keys in, screen out.

poezio refuses to run as root, so when the tier runs as root (CI) poezio runs as
``nobody`` through ``runuser``, with its home, configuration and logs in a private
folder that user owns. The tmux server has its own socket in that folder and is stopped
by its pid. Reading the screen polls ``capture-pane`` until the text is there, bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TIMEOUT = 20.0
"""Longest wait for a text on poezio's screen."""


class TerminalError(RuntimeError):
    """poezio or tmux could not run; the message says why."""


class Poezio:
    """One poezio process in its own tmux server, logged in as ``jid``."""

    def __init__(self, folder: Path, jid: str, password: str, port: int) -> None:
        self.folder = folder
        self.socket = folder / "tmux.sock"
        self.jid = jid
        config = folder / "config" / "poezio" / "poezio.cfg"
        config.parent.mkdir(parents=True)
        config.write_text(
            "[Poezio]\n"
            f"jid = {jid}\n"
            f"password = {password}\n"
            "custom_host = 127.0.0.1\n"
            f"custom_port = {port}\n"
            "force_encryption = false\n"  # loopback without certificates: SCRAM in clear
            "certificate = \n"
            "ignore_certificate = true\n"
            f"default_nick = {jid.split('@', maxsplit=1)[0]}\n"
            "show_tab_names = true\n"
            # poezio bookmarks every room it joins, with autojoin: through the module that
            # keeps the account in after /part (XEP-0402), which is not this smoke test's point.
            "use_remote_bookmarks = false\n"
            "use_bookmarks_method = local\n"
            "enable_user_tune = false\n"
            "enable_user_nick = false\n"
            "enable_user_mood = false\n"
            "enable_user_activity = false\n"
            "enable_user_gaming = false\n"
            "exec_remote = false\n"
        )
        self.config = config
        self.pid: int | None = None
        """The tmux server's pid."""
        self.pane_pid: int | None = None
        """The pane's process: runuser (as root) or poezio itself."""

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if result.returncode != 0:
            raise TerminalError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def start(self) -> None:
        """Start tmux with poezio in it (as ``nobody`` when this runs as root)."""
        for tool in ("tmux", "poezio"):
            if shutil.which(tool) is None:
                raise TerminalError(
                    f"{tool} is not installed; the poezio smoke test needs "
                    "apt-get install -y poezio tmux"
                )
        env = (
            f"HOME={self.folder} XDG_CONFIG_HOME={self.folder / 'config'} "
            f"XDG_DATA_HOME={self.folder / 'data'} XDG_CACHE_HOME={self.folder / 'cache'} "
            "TERM=xterm-256color LANG=C.UTF-8"
        )
        command = f"env {env} poezio -f {self.config}"
        if os.getuid() == 0:
            command = f"runuser -u nobody -- {command}"
        self._tmux("new-session", "-d", "-s", "poezio", "-x", "160", "-y", "45", command)
        self.pid = int(self._tmux("display-message", "-p", "#{pid}").strip())
        self.pane_pid = int(self._tmux("display-message", "-p", "#{pane_pid}").strip())

    async def keys(self, text: str) -> None:
        """Type ``text`` literally, then Enter.

        The first key alone, then the rest, then Enter, with pauses between: poezio reads
        a burst of keys as a paste (in the roster tab the first "/" opens the command line
        and the rest of its burst is lost; an Enter inside a paste is not a send).
        """
        self._tmux("send-keys", "-t", "poezio", "-l", text[:1])
        await asyncio.sleep(0.3)
        if text[1:]:
            self._tmux("send-keys", "-t", "poezio", "-l", text[1:])
            await asyncio.sleep(0.3)
        self._tmux("send-keys", "-t", "poezio", "Enter")

    def screen(self) -> str:
        """What poezio shows now."""
        try:
            return self._tmux("capture-pane", "-p", "-t", "poezio")
        except TerminalError as exc:
            return f"(no screen: {exc})"

    async def shows(self, text: str, timeout: float = TIMEOUT) -> str:
        """Wait until ``text`` is on the screen; the screen, or fail with what it showed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if loop.time() > deadline:
                raise AssertionError(f"poezio never showed {text!r}; its screen:\n{screen}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        """Stop poezio, then the tmux server, by pid.

        poezio first, while its terminal exists: once tmux is gone it neither exits on
        SIGHUP nor on SIGTERM, and spins. What does not stop in time is killed.
        """
        if self.pane_pid is not None:
            _end([*_children(self.pane_pid), self.pane_pid])
            self.pane_pid = None
        if self.pid is not None:
            _end([self.pid])
            self.pid = None


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _end(pids: list[int], timeout: float = 3.0) -> None:
    """SIGTERM each of ``pids``; SIGKILL the ones still there after ``timeout`` seconds."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        if _running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextlib.contextmanager
def poezio(jid: str, password: str, port: int) -> Iterator[Poezio]:
    """A running poezio for ``jid`` on 127.0.0.1:``port``; stopped and removed after."""
    folder = Path(tempfile.mkdtemp(prefix="minimix-poezio-"))
    try:
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        client = Poezio(folder, jid, password, port)
        if os.getuid() == 0:
            for path in (folder / "config", client.config.parent, client.config):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        client.start()
        try:
            yield client
        finally:
            client.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
