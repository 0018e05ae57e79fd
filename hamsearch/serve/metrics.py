"""Prometheus metrics (``GET /metrics``): requests, latency, index size.

One :class:`prometheus_client.CollectorRegistry` per application (several
apps in one process, as in the tests, do not collide).  Requests are
labelled by route template (``/v1/items/{id}/similar``), never by raw path.
"""

from __future__ import annotations

import time

__all__ = ["Metrics", "MetricsMiddleware"]

_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
            5.0, 10.0)


class Metrics:
    """The service's metrics and the ASGI middleware that records them.

    Parameters
    ----------
    service : hamsearch.serve.IndexService
        Read at scrape time for the index gauges.
    """

    def __init__(self, service):
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from prometheus_client.core import GaugeMetricFamily

        self.registry = CollectorRegistry()
        self.requests = Counter("hamsearch_http_requests", "HTTP requests answered",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("hamsearch_http_request_duration_seconds",
                                 "Time from request to the end of the response",
                                 ("method", "route"), buckets=_BUCKETS, registry=self.registry)
        self.queries = Counter("hamsearch_queries", "Query codes searched",
                               ("kind",), registry=self.registry)

        class _IndexCollector:
            def collect(self_inner):
                st = service.index_stats()
                for name, key, doc in (
                        ("hamsearch_index_codes", "ntotal", "Codes in the index"),
                        ("hamsearch_index_deleted_rows", "deleted", "Deleted rows awaiting compaction"),
                        ("hamsearch_index_segments", "segments", "Segments"),
                        ("hamsearch_index_bytes", "nbytes", "Bytes held by the index"),
                        ("hamsearch_index_wal_seq", "wal_seq", "Last write-ahead log record applied")):
                    g = GaugeMetricFamily(name, doc)
                    g.add_metric([], float(st[key]))
                    yield g
                g = GaugeMetricFamily("hamsearch_reloads", "Index reloads since start")
                g.add_metric([], float(service.reloads))
                yield g

        self.registry.register(_IndexCollector())

    def render(self) -> bytes:
        """The text exposition format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)



class MetricsMiddleware:
    """ASGI middleware: count and time every HTTP request in ``metrics``."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, path, str(status[0])).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - t0)
