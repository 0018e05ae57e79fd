"""Images in and out: decoding uploads (PNG / JPEG) and corpus thumbnails."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np

from .errors import ApiError

__all__ = ["IMAGE_FORMATS", "decode_image", "ItemStore"]

#: Upload formats accepted (as PIL names them).
IMAGE_FORMATS = ("PNG", "JPEG")


def decode_image(data: bytes, shape: tuple, field: str, max_pixels: int) -> np.ndarray:
    """Decode one uploaded image to ``uint8`` of ``shape`` = ``(h, w, c)``.

    Grey (``c == 1``) or RGB (``c == 3``); the image is resized (bilinear)
    to ``h x w``.  Anything that is not a PNG or JPEG within
    ``max_pixels`` is a 422 :class:`ApiError` naming ``field``.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ApiError(422, field, f"{field} is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in IMAGE_FORMATS:
                raise ApiError(422, field, f"{field} is a {img.format} image; PNG or JPEG expected")
            w, h = img.size
            if w * h > max_pixels:
                raise ApiError(413, field, f"{field} is {w}x{h} pixels, more than the limit "
                                           f"of {max_pixels:,}")
            img.load()
            height, width, channels = shape
            img = img.convert("L" if channels == 1 else "RGB")
            img = img.resize((width, height), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except ApiError:
        raise
    except UnidentifiedImageError:
        raise ApiError(422, field, f"{field} is not a PNG or JPEG image") from None
    except Image.DecompressionBombError:
        raise ApiError(413, field, f"{field} decodes to too many pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ApiError(422, field, f"{field} is a damaged image ({type(exc).__name__})") from None
    return arr.reshape(height, width) if channels == 1 else arr


class ItemStore:
    """The corpus images behind an index, for thumbnails: row ``i`` is id ``i``.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, h, w) or (n, h, w, 3)
    labels : ndarray of int, shape (n,), optional
    class_names : sequence of str, optional
        Names of the label values.
    scale : int, default 2
        Thumbnails are ``scale`` times the image size (nearest neighbour).
    """

    def __init__(self, images: np.ndarray, labels: Optional[np.ndarray] = None,
                 class_names: Optional[Sequence[str]] = None, scale: int = 2):
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise ValueError(f"thumbnails must be uint8 (n, h, w[, 3]), got {images.dtype} "
                             f"{images.shape}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} thumbnails")
        self.images = images
        self.labels = None if labels is None else np.asarray(labels)
        self.class_names = None if class_names is None else list(class_names)
        self.scale = int(scale)
        self._png: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.images)

    def has(self, id_: int) -> bool:
        """Whether ``id_`` has an image."""
        return 0 <= id_ < len(self.images)

    def label(self, id_: int) -> Optional[str]:
        """The label of ``id_`` as text (its class name when known)."""
        if self.labels is None or not self.has(id_):
            return None
        lab = int(self.labels[id_])
        if self.class_names is not None and 0 <= lab < len(self.class_names):
            return self.class_names[lab]
        return str(lab)

    def png(self, id_: int) -> bytes:
        """The thumbnail of ``id_`` as PNG bytes (the last 4096 are cached)."""
        with self._lock:
            hit = self._png.get(id_)
            if hit is not None:
                self._png.move_to_end(id_)
                return hit
        from PIL import Image

        img = Image.fromarray(np.ascontiguousarray(self.images[id_]))
        if self.scale > 1:
            img = img.resize((img.width * self.scale, img.height * self.scale), Image.NEAREST)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        data = buf.getvalue()
        with self._lock:
            self._png[id_] = data
            while len(self._png) > 4096:
                self._png.popitem(last=False)
        return data
