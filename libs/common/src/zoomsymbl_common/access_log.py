"""An access log that names the route, never the path: some paths carry secrets.

The notifier's Symbl callbacks (``/webhooks/symbl/{token}``) and the web service's meeting pages
(``/m/{token}``) hold a token in the path; the log line gets the matched route's template instead.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger


class RouteAccessLogger(AbstractAccessLogger):
    """One JSON-friendly line per request: method, route template, status, duration (no path, query, referrer)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log ``request`` by its route (e.g. ``/m/{token}``), so tokens never reach the log."""
        self.logger.info(
            "http request",
            extra={
                "method": request.method,
                "route": route_of(request),
                "status": response.status,
                "duration_ms": round(time * 1000, 1),
            },
        )


def route_of(request: web.BaseRequest) -> str:
    """The matched route's template, or a placeholder when no route matched (or the request could not be parsed)."""
    try:
        match_info = getattr(request, "match_info", None)
    except AssertionError:  # aiohttp asserts a match; a request its parser refused (a 400) never had one
        return "(unmatched)"
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    return resource.canonical if resource is not None else "(unmatched)"
