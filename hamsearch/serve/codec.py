"""Codes as text: hex (the PDQ convention) or base64, to and from packed bytes.

A code of ``nbits`` bits is ``nbits / 8`` bytes in the FAISS binary layout
(:mod:`hamsearch.codes`); as text it is those bytes in order, hex
(``nbits / 4`` characters, either case) or standard base64 (padded).  A PDQ
hash's 64 hex characters are therefore a 256-bit code as they are: Hamming
distances do not depend on the order the bits are numbered in, so PDQ's
own bit numbering and this one give the same distances.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from .errors import ApiError

__all__ = ["ENCODINGS", "decode_codes", "encode_hex"]

#: Accepted ``encoding`` values of a request.
ENCODINGS = ("hex", "base64")


def decode_codes(codes: list, nbits: int, encoding: str = "hex", field: str = "codes") -> np.ndarray:
    """Decode text codes to packed ``uint8 (n, nbits // 8)``.

    Parameters
    ----------
    codes : list of str
        One string per code.
    nbits : int
        The index's code length.
    encoding : {"hex", "base64"}
    field : str
        Request field name used in errors (``codes[i]``).

    Raises
    ------
    ApiError
        422 naming ``codes[i]``: not a string, bad characters, wrong length.
    """
    if encoding not in ENCODINGS:
        raise ApiError(422, "encoding", f"encoding must be one of {list(ENCODINGS)}, got {encoding!r}")
    nbytes = nbits // 8
    out = np.empty((len(codes), nbytes), dtype=np.uint8)
    for i, text in enumerate(codes):
        where = f"{field}[{i}]"
        if not isinstance(text, str):
            raise ApiError(422, where, f"{where} must be a string, got {type(text).__name__}")
        if encoding == "hex":
            if len(text) != 2 * nbytes:
                raise ApiError(422, where, f"{where} has {len(text)} hex digits; a {nbits}-bit "
                                           f"code has {2 * nbytes}")
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raise ApiError(422, where, f"{where} is not hexadecimal (0-9, a-f)") from None
            if len(raw) != nbytes:  # fromhex skips whitespace
                raise ApiError(422, where, f"{where} is not hexadecimal (0-9, a-f)")
        else:
            try:
                raw = base64.b64decode(text.encode("ascii"), validate=True)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise ApiError(422, where, f"{where} is not valid base64") from None
            if len(raw) != nbytes:
                raise ApiError(422, where, f"{where} decodes to {len(raw)} bytes; a {nbits}-bit "
                                           f"code has {nbytes}")
        out[i] = np.frombuffer(raw, dtype=np.uint8)
    return out


def encode_hex(codes: np.ndarray) -> list:
    """Packed ``uint8 (n, nbytes)`` codes as hex strings."""
    return [bytes(row).hex() for row in np.ascontiguousarray(codes, dtype=np.uint8)]
