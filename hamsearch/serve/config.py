"""Settings of a running service: limits, access, reload source."""

from __future__ import annotations

import dataclasses
from typing import Optional

__all__ = ["ServeConfig"]


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Limits and switches of one service.

    Parameters
    ----------
    token : str, optional
        The bearer token writes (and, unless ``public_read``, reads) need.
        ``None``: writes are refused (403) -- a read-only service.  Never
        printed (``repr`` hides it).
    public_read : bool, default False
        Reads (search, range, stats, items, metrics, the page) without a token.
    max_body_bytes : int, default 16 MiB
        Largest request body; a larger one is a 413 before it is parsed.
    max_batch : int, default 1000
        Most codes (or ids) in one request.
    max_k : int, default 1000
        Largest ``k`` of a search.
    max_range_results : int, default 100,000
        Most results a range search may return in total (a 422 naming
        ``radius`` beyond it).
    max_images : int, default 16
        Most images in one upload.
    max_image_pixels : int, default 16 megapixels
        Largest decoded image (width x height).
    reload_from : str, optional
        Index file or directory that ``POST /v1/reload`` and SIGHUP swap in.
    """

    token: Optional[str] = dataclasses.field(default=None, repr=False)
    public_read: bool = False
    max_body_bytes: int = 16 << 20
    max_batch: int = 1000
    max_k: int = 1000
    max_range_results: int = 100_000
    max_images: int = 16
    max_image_pixels: int = 16 << 20
    reload_from: Optional[str] = None

    def __post_init__(self):
        for name in ("max_body_bytes", "max_batch", "max_k", "max_range_results",
                     "max_images", "max_image_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise ValueError("token must be a non-empty string or None")
