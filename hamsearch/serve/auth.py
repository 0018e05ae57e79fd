"""Bearer tokens: where the token comes from, and the constant-time check.

The token is read from a file (``--token-file``; surrounding whitespace
dropped) or the environment variable ``HAMSEARCH_TOKEN``.  It is compared
with :func:`hmac.compare_digest` and never logged or echoed.
"""

from __future__ import annotations

import hmac
import os
from typing import Optional

from .errors import ApiError

__all__ = ["TOKEN_ENV", "load_token", "check_bearer"]

#: Environment variable holding the token when no file is given.
TOKEN_ENV = "HAMSEARCH_TOKEN"


def load_token(token_file: Optional[str] = None, environ=None) -> Optional[str]:
    """The service token: from ``token_file``, else ``$HAMSEARCH_TOKEN``, else None.

    Raises
    ------
    ValueError
        The file is empty or holds more than one line; the message never
        contains the token.
    """
    environ = os.environ if environ is None else environ
    if token_file is not None:
        with open(token_file, encoding="utf-8") as f:
            token = f.read().strip()
        if not token:
            raise ValueError(f"token file {token_file} is empty")
        if any(c.isspace() for c in token):
            raise ValueError(f"token file {token_file}: the token must be one word without "
                             "spaces or line breaks")
        return token
    token = environ.get(TOKEN_ENV, "").strip()
    return token or None


def check_bearer(header: Optional[str], token: Optional[str], what: str) -> None:
    """Raise a 401 (missing / malformed / wrong token) or 403 (writes disabled).

    Parameters
    ----------
    header : str or None
        The request's ``Authorization`` header.
    token : str or None
        The service token; ``None`` disables what needs it.
    what : str
        ``"read"`` or ``"write"``, for the messages.
    """
    if token is None:
        raise ApiError(403, None, f"{what}s are disabled: the service was started without a "
                                  f"token (--token-file or ${TOKEN_ENV})")
    challenge = {"WWW-Authenticate": "Bearer"}
    if not header:
        raise ApiError(401, "Authorization", f"{what}s need an 'Authorization: Bearer <token>' "
                                             "header", challenge)
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(401, "Authorization", "the Authorization header must be 'Bearer <token>'",
                       challenge)
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        raise ApiError(401, "Authorization", "wrong token", challenge)
