"""``hamsearch serve``: a search service over a durable index (optional extra).

``pip install "hamsearch[serve]"`` (FastAPI, uvicorn, pydantic,
prometheus-client, python-multipart, pillow).  ``import hamsearch`` never
imports this package; the ``hamsearch serve`` command does.

Modules, one job each:

* :mod:`.config` -- :class:`ServeConfig`, limits and switches;
* :mod:`.codec` -- hex / base64 codes to packed bytes, with field names in errors;
* :mod:`.errors` -- :class:`ApiError` and the JSON error handlers (every bad
  request is a 4xx ``{"error": {"field", "message"}}``);
* :mod:`.schemas` -- the pydantic request and response models (unknown
  fields refused);
* :mod:`.service` -- :class:`IndexService`: the index, its directory, the
  write lock, reload and snapshot (no HTTP in it); its verbs are mixins in
  :mod:`.writes`, :mod:`.reads`, :mod:`.items` and :mod:`.admin`, with
  :mod:`.hits` (results as JSON hits) and :mod:`.inputs` (feature rows);
* :mod:`.encoders`, :mod:`.images`, :mod:`.demo` -- images in, codes and
  features out; thumbnails; the Fashion-MNIST demo corpus;
* :mod:`.auth`, :mod:`.metrics`, :mod:`.limits` -- bearer tokens, Prometheus
  metrics, request body limits;
* :mod:`.page` -- the HTML page of ``GET /``;
* :mod:`.app` -- :func:`create_app`, the FastAPI application;
* :mod:`.server` -- :func:`serve`: uvicorn on a bound socket, SIGTERM drain
  and save, SIGHUP reload.

See ``docs/service.md``.
"""

from __future__ import annotations

from .config import ServeConfig
from .service import IndexService

__all__ = ["ServeConfig", "IndexService", "create_app", "serve"]


def __getattr__(name):  # the FastAPI parts load on first use
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(name)
