"""examples/component.py fails in one line: a closed port, a wrong secret, an unknown domain.

XEP-0114 §3 (the handshake) and RFC 6120 §4.9 (stream errors), against a scripted server on
127.0.0.1 that answers the way Prosody 0.12 does; the example runs as a reader would run it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "component.py"
STREAM_ERROR = (
    "<stream:error><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
    "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>{text}</text></stream:error>"
    "</stream:stream>"
)


def run_example(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        str(EXAMPLE),
        "--port",
        str(port),
        "--room",
        "lounge@conference.localhost",
    ]
    return subprocess.run(
        [*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def refusing_server(condition: str, text: str) -> tuple[int, threading.Thread]:
    """A one-connection server that opens the stream and refuses the handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve() -> None:
        with listener, listener.accept()[0] as connection:
            connection.settimeout(30)
            received = b""
            while not received.rstrip().endswith(b">"):
                received += connection.recv(4096)
            connection.sendall(
                b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                b"xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='users.localhost'>"
            )
            while b"</handshake>" not in received:
                received += connection.recv(4096)
            connection.sendall(STREAM_ERROR.format(condition=condition, text=text).encode())

    thread = threading.Thread(target=serve)
    thread.start()
    return listener.getsockname()[1], thread


def test_a_closed_port_says_to_check_the_server() -> None:
    """Nothing listens: exit status 1 and one line, no traceback."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free now, and closed once the block ends
    result = run_example(port, "--secret", "lab-secret")
    assert result.returncode == 1
    assert result.stderr == (
        f"component: cannot connect to 127.0.0.1:{port} (Connection refused): is the server "
        "running, with a component port there (Prosody: component_ports)?\n"
    )


@pytest.mark.parametrize(
    ("condition", "text", "hint"),
    [
        (
            "not-authorized",
            "Given token does not match calculated token",
            "--secret must be the component's component_secret",
        ),
        (
            "host-unknown",
            "users.localhost does not match any configured external components",
            "the server needs a Component for --domain",
        ),
    ],
)
def test_a_refused_handshake_names_the_cause(condition: str, text: str, hint: str) -> None:
    """The stream error's condition and text, and what to check (XEP-0114 §3)."""
    port, server = refusing_server(condition, text)
    result = run_example(port, "--secret", "wrong")
    server.join()
    assert result.returncode == 1
    assert (
        result.stderr
        == f"component: the server refused users.localhost ({condition}: {text}): {hint}\n"
    )
