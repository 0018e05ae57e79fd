"""Running the service: uvicorn on a bound socket, SIGTERM drain and save,
SIGHUP reload.

``SIGTERM`` / ``SIGINT``: uvicorn stops accepting connections and waits for
the requests in flight (at most ``graceful_timeout`` seconds); then the
application's shutdown saves the index to its directory and closes the log.
``SIGHUP``: :meth:`IndexService.reload` in a worker thread, while requests
go on.  A ``kill -9`` loses nothing acknowledged: the log has every write.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from typing import Optional

__all__ = ["serve", "bind"]

log = logging.getLogger("hamsearch.serve")


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on connections accepted
    # from a socket that says it is TCP (with proto 0, Nagle + delayed ACKs
    # added ~40 ms to every keep-alive request)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(service, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info",
          access_log: bool = False, graceful_timeout: float = 30.0,
          out=None) -> int:
    """Serve ``service`` until SIGTERM / SIGINT; returns the exit status.

    Prints ``hamsearch serve: listening on http://HOST:PORT`` (the real port
    when ``port`` is 0) once the socket is bound.
    """
    import asyncio

    import uvicorn

    from .app import create_app

    out = out or sys.stdout

    @contextlib.asynccontextmanager
    async def lifespan(app):  # pragma: no cover - exercised in a subprocess
        loop = asyncio.get_running_loop()

        def reload_in_thread():
            def run():
                try:
                    res = service.reload()
                    log.warning("SIGHUP: reloaded, %d codes", res["ntotal"])
                except Exception as exc:  # an ApiError or anything else: keep serving
                    log.warning("SIGHUP: reload failed: %s", getattr(exc, "message", exc))
            loop.run_in_executor(None, run)

        try:
            loop.add_signal_handler(signal.SIGHUP, reload_in_thread)
        except (NotImplementedError, AttributeError, RuntimeError, ValueError):
            pass
        yield
        saved = await loop.run_in_executor(None, service.close)
        if saved is not None:
            log.warning("saved %d codes to %s", saved, service.directory)

    app = create_app(service, lifespan=lifespan)
    try:
        sock = bind(host, port)
    except OSError as exc:
        service.close()
        raise RuntimeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    real_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=log_level, access_log=access_log,
                            timeout_graceful_shutdown=graceful_timeout, lifespan="on")

    class _Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            service.draining = True  # /readyz answers 503 from now on
            super().handle_exit(sig, frame)

    server = _Server(config)
    print(f"hamsearch serve: listening on http://{host}:{real_port}", file=out, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if not service.closed:  # startup failed, or the loop died: still save
            service.close()
    return 0 if server.started else 1
