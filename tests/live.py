"""The platform served for real, on a free localhost port: for browsers and clients written by others."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from opendsp.platform import Platform
from opendsp.web.app import create_app


@contextmanager
def serve(platform: Platform, *, as_in_production: bool = False,
          sock: socket.socket | None = None) -> Iterator[tuple[str, Platform]]:
    """uvicorn in a thread, sharing the test platform's database, clock and randomness.

    ``as_in_production``: with the logging of ``opendsp serve`` (our access log at INFO, uvicorn's off).
    ``sock``: a socket already bound, when the address must be known before the server starts (e.g. to register
    its callback with an OpenID Connect provider).
    """
    if sock is None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    served = Platform(settings=platform.settings.model_copy(update={"public_base_url": url}), clock=platform.clock,
                      randomness=platform.randomness, engine=platform.engine, blob_store=platform.blob_store)
    options: dict[str, Any] = {"log_level": "warning"}
    if as_in_production:
        from opendsp.web.access_log import server_options
        from opendsp.web.proxies import SERVER_OPTIONS

        options = {"log_level": "info", **SERVER_OPTIONS, **server_options()}
    server = uvicorn.Server(uvicorn.Config(create_app(platform=served), lifespan="off", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the server to listen, not for an expiry
    assert server.started, "the test server did not start"
    try:
        yield url, served
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
