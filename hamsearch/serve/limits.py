"""Request body limit, as ASGI middleware (uvicorn has none of its own).

A request whose ``Content-Length`` is over the limit is answered 413 before
its body is read; a body without a length (chunked) is counted as it
streams and cut off with a 413 once it passes the limit.
"""

from __future__ import annotations

import json

from .errors import error_body

__all__ = ["BodyLimitMiddleware"]


class _TooLarge(Exception):
    pass


async def _send_413(send, limit: int) -> None:
    body = json.dumps(error_body(None, f"the request body is larger than the limit of "
                                       f"{limit:,} bytes")).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with a JSON 413."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length > limit:
                    return await _send_413(send, limit)
        seen = 0
        over = False  # the body passed the limit: whatever the app answers becomes a 413
        replied = False

        async def counted_receive():
            nonlocal seen, over
            if over:
                raise _TooLarge()
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _TooLarge()
            return message

        async def guarded_send(message):
            nonlocal replied
            if over:
                if not replied:
                    replied = True
                    await _send_413(send, limit)
                return
            replied = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            pass
        if over and not replied:
            await _send_413(send, limit)
