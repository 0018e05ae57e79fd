"""Status codes of the C entry points and the one place they become
exceptions (:func:`check_status`)."""

from __future__ import annotations

from ._ext import _lib

#: Status codes of the C entry points (``csrc/hamsearch_api.h``).
HS_OK, HS_ENOMEM, HS_EINVAL = ((_lib.HS_OK, _lib.HS_ENOMEM, _lib.HS_EINVAL) if _lib is not None
                               else (0, -1, -2))


def check_status(rc: int, what: str) -> None:
    """The one place a C status code becomes an exception: ``HS_ENOMEM`` ->
    MemoryError, ``HS_EINVAL`` (or any other non-zero code) -> ValueError."""
    if rc == HS_OK:
        return
    if rc == HS_ENOMEM:
        raise MemoryError(f"hamsearch {what}: out of memory in the C kernel")
    raise ValueError(
        f"hamsearch {what}: the C kernel rejected its arguments (status {rc}); the "
        f"Python layer should have caught this -- please report it"
    )
