"""The FastAPI application: routes, auth, limits, metrics, errors.

Route functions are plain ``def``: FastAPI runs them in its thread pool, off
the event loop, so searches (whose kernels release the GIL) run in parallel
and a long one never stalls other connections.
"""

from __future__ import annotations

from typing import List, Optional

from fastapi import Depends, FastAPI, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .. import __version__
from .auth import check_bearer
from .errors import ApiError, install_handlers, install_shard_handler
from .images import decode_image
from .limits import BodyLimitMiddleware
from .metrics import Metrics, MetricsMiddleware
from .page import page_html
from .schemas import (AddRequest, DeleteRequest, DeleteResponse, ImageSearchResponse,
                      ItemsResponse, RangeRequest, SearchRequest, SearchResponse,
                      SimilarResponse, StatsResponse, WriteResponse)
from .service import IndexService

__all__ = ["create_app"]


def create_app(service: IndexService, *, lifespan=None) -> FastAPI:
    """The application serving ``service`` (its ``config`` sets auth and limits).

    Parameters
    ----------
    service : IndexService
    lifespan : callable, optional
        An ASGI lifespan context (``app -> async context manager``); the
        server's saves the index on shutdown.

    Returns
    -------
    fastapi.FastAPI
        With ``app.state.service`` and ``app.state.metrics``.  The OpenAPI
        schema is at ``/openapi.json``; the interactive docs pages (which
        load scripts from a CDN) are off.
    """
    cfg = service.config
    app = FastAPI(title="hamsearch", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=lifespan,
                  description="Exact search of binary codes in Hamming space.")
    metrics = Metrics(service)
    app.state.service = service
    app.state.metrics = metrics
    install_handlers(app)
    if service.is_sharded:
        install_shard_handler(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=cfg.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    async def read_access(request: Request) -> None:
        if not cfg.public_read:
            check_bearer(request.headers.get("authorization"), cfg.token, "read")

    async def write_access(request: Request) -> None:
        check_bearer(request.headers.get("authorization"), cfg.token, "write")

    read = [Depends(read_access)]
    write = [Depends(write_access)]

    # ------------------------------------------------------------ health
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz():
        """Readiness: 200 while serving, 503 once shutting down."""
        if service.draining or service.closed:
            return JSONResponse({"status": "draining"}, status_code=503)
        return {"status": "ready", "ntotal": len(service.index)}

    @app.get("/metrics", tags=["health"], dependencies=read)
    def prometheus_metrics() -> Response:
        """Prometheus text format: requests, latency histograms, index size."""
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------ codes
    @app.post("/v1/codes", response_model=WriteResponse, dependencies=write, tags=["codes"])
    def add_codes(req: AddRequest):
        """Add codes (new ids when none are given) or upsert them by id."""
        out = service.add(req.codes, req.ids, req.features, req.encoding, req.mode)
        return JSONResponse(out)

    @app.delete("/v1/codes", response_model=DeleteResponse, dependencies=write, tags=["codes"])
    def delete_codes(req: DeleteRequest):
        """Remove codes by id; ids not stored are ignored."""
        return JSONResponse(service.remove(req.ids))

    # ------------------------------------------------------------ search
    @app.post("/v1/search", response_model=SearchResponse, dependencies=read, tags=["search"])
    def search(req: SearchRequest):
        """k nearest codes per query, nearest first, ties by ascending id."""
        results = service.search(req.codes, req.k, encoding=req.encoding, filter=req.filter,
                                 features=req.features, pool_size=req.pool_size,
                                 pool_radius=req.pool_radius, metric=req.metric)
        metrics.queries.labels("knn").inc(len(req.codes))
        return JSONResponse({"results": results})

    @app.post("/v1/range", response_model=SearchResponse, dependencies=read, tags=["search"])
    def range_search(req: RangeRequest):
        """Every code within ``radius`` (inclusive) of each query."""
        results = service.range(req.codes, req.radius, encoding=req.encoding, filter=req.filter)
        metrics.queries.labels("range").inc(len(req.codes))
        return JSONResponse({"results": results})

    @app.post("/v1/images/search", response_model=ImageSearchResponse, dependencies=read,
              tags=["search"])
    def image_search(files: List[UploadFile] = File(..., description="PNG or JPEG images"),
                     k: int = Form(10, ge=1)):
        """Encode uploaded images with the model and search (Hamming and re-ranked)."""
        import numpy as np

        if service.encoder is None:
            raise ApiError(409, None, "this service has no model to encode images: start it "
                                      "with --model or --demo")
        if len(files) > cfg.max_images:
            raise ApiError(413, "files", f"{len(files)} images, more than the limit of "
                                         f"{cfg.max_images} per request")
        shape = service.encoder.image_shape
        images = np.stack([decode_image(f.file.read(), shape, f"files[{i}]", cfg.max_image_pixels)
                           for i, f in enumerate(files)])
        out = service.search_images(images, k)
        metrics.queries.labels("image").inc(len(files))
        return JSONResponse(out)

    # ------------------------------------------------------------ items
    @app.get("/v1/items", response_model=ItemsResponse, dependencies=read, tags=["items"])
    def items(offset: int = Query(0, ge=0), limit: int = Query(48, ge=1, le=1000),
              seed: Optional[int] = Query(None, ge=0)):
        """Corpus items with thumbnails (in id order, or a seeded random sample)."""
        return JSONResponse(service.list_items(offset, limit, seed))

    @app.get("/v1/items/{id}/thumbnail.png", dependencies=read, tags=["items"],
             response_class=Response)
    def thumbnail(id_: int = Path(..., alias="id", ge=0)):
        """The item's image as PNG."""
        if service.items is None or not service.items.has(id_):
            raise ApiError(404, "id", f"no thumbnail for id {id_}")
        return Response(service.items.png(id_), media_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})

    @app.get("/v1/items/{id}/similar", response_model=SimilarResponse, dependencies=read,
             tags=["items"])
    def similar(id_: int = Path(..., alias="id", ge=0), k: int = Query(10, ge=1)):
        """Top-k of a stored item (itself excluded): Hamming only and re-ranked."""
        return JSONResponse(service.similar(id_, k))

    # ------------------------------------------------------------ admin
    @app.get("/v1/stats", response_model=StatsResponse, dependencies=read, tags=["admin"])
    def stats():
        """Index and service statistics."""
        return JSONResponse(service.stats())

    @app.post("/v1/snapshot", dependencies=write, tags=["admin"])
    def snapshot():
        """Save the index to its directory now (the log is checkpointed)."""
        return JSONResponse(service.snapshot())

    @app.post("/v1/reload", dependencies=write, tags=["admin"])
    def reload():
        """Swap in the index at the configured ``--reload-from`` path."""
        return JSONResponse(service.reload())

    # ------------------------------------------------------------ page
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        """The search page (no external resources)."""
        return HTMLResponse(page_html(service), headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                                       "style-src 'self' 'unsafe-inline'; "
                                       "script-src 'self' 'unsafe-inline'"})

    return app
