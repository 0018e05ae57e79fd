"""JSON errors: every refused request answers ``{"error": {"field", "message"}}``.

:class:`ApiError` is raised by the service and the routes; the handlers
installed by :func:`install_handlers` turn it, FastAPI's request validation
errors and HTTP errors into that shape with a 4xx status.  Anything else
that escapes a route is a bug: it is logged and answered 500 without
details.
"""

from __future__ import annotations

import logging
from typing import Optional

__all__ = ["ApiError", "install_handlers", "install_shard_handler", "error_body"]

log = logging.getLogger("hamsearch.serve")


class ApiError(Exception):
    """A refused request: HTTP ``status``, the offending ``field``, a message.

    Parameters
    ----------
    status : int
        HTTP status (4xx; 503 while unavailable).
    field : str or None
        The request field at fault, as a dotted path (``"codes[3]"``,
        ``"filter.allow"``, ``"Authorization"``); ``None`` for the request
        as a whole.
    message : str
        What is wrong and what is expected.
    """

    def __init__(self, status: int, field: Optional[str], message: str,
                 headers: Optional[dict] = None):
        super().__init__(message)
        self.status = int(status)
        self.field = field
        self.message = message
        self.headers = headers


def error_body(field: Optional[str], message: str) -> dict:
    """The JSON body of an error response."""
    return {"error": {"field": field, "message": message}}


def _loc_to_field(loc) -> Optional[str]:
    """``("body", "codes", 3)`` -> ``"codes[3]"``; the leading source dropped."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "form", "file"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or None


def install_handlers(app) -> None:
    """Register the error handlers on a FastAPI ``app``."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return JSONResponse(error_body(exc.field, exc.message), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = tuple(first.get("loc", ()))
        field = _loc_to_field(loc)
        kind = first.get("type", "")
        msg = str(first.get("msg", "invalid request"))
        ctype = request.headers.get("content-type", "")
        if field is None and loc[:1] == ("body",) and "json" not in ctype \
                and "multipart" not in ctype:
            field, msg = "body", ("the body must be a JSON object sent with "
                                  f"'Content-Type: application/json' (got {ctype or 'none'!r})")
        elif kind == "json_invalid":
            field, msg = "body", f"the body is not valid JSON ({first.get('ctx', {}).get('error', msg)})"
        elif kind == "extra_forbidden":
            msg = f"unknown field {field!r}"
        elif kind == "missing":
            msg = f"{field} is required"
        else:
            msg = f"{field}: {msg}" if field else msg
        more = len(errors) - 1
        if more > 0:
            msg += f" (and {more} more error{'s' if more > 1 else ''})"
        return JSONResponse(error_body(field, msg), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse(error_body(None, detail), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):  # pragma: no cover - a bug if reached
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return JSONResponse(error_body(None, "internal error"), status_code=500)


def install_shard_handler(app) -> None:
    """Answer :class:`hamsearch.distributed.ShardUnavailableError` (a shard
    did not answer in time) with a 503 naming the shard, and ``Retry-After``.

    A read that would miss a shard's codes is refused rather than answered
    partially; a write not acknowledged by every replica may have reached
    some (an upsert or remove retried is harmless).
    """
    from fastapi.responses import JSONResponse

    from ..distributed import ShardUnavailableError  # no Ray import

    @app.exception_handler(ShardUnavailableError)
    async def _shard_unavailable(request, exc: ShardUnavailableError):
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body(None, str(exc)), status_code=503,
                            headers={"Retry-After": "1"})
