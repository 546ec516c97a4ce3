"""A body shorter than its Content-Length cannot hold a socket (issue 14, "also seen").

A real uvicorn server on a real socket: the client declares 1,000 bytes and sends 10. The
server answers 408 once ``PANTHEON_BODY_READ_TIMEOUT`` has passed (it used to wait for
the rest for as long as the client kept the connection open).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from pantheon.api.app import create_app
from pantheon.store.migrate import ensure_schema

pytestmark = pytest.mark.e2e

TIMEOUT = 1.0


@pytest.fixture
def live_url(make_settings: Any) -> Iterator[tuple[str, int]]:
    settings = make_settings(body_read_timeout=TIMEOUT)
    ensure_schema(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(timeout=10)


def test_a_short_body_is_answered_408(live_url: tuple[str, int]) -> None:
    host, port = live_url
    with socket.create_connection((host, port), timeout=TIMEOUT * 10) as sock:
        sock.sendall(
            b"POST /api/outcomes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"god_name"'
        )
        started = time.monotonic()
        try:
            answer = sock.recv(4096)
        except TimeoutError:
            pytest.fail(f"no answer within {TIMEOUT * 10:.0f} s: the socket is held")
        waited = time.monotonic() - started
    # Only the status line is certain: the server closes a connection whose body it did not
    # read, and the reset that follows may drop the rest of the answer in flight.
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert waited < TIMEOUT * 10
