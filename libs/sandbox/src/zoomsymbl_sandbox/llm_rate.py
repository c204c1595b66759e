"""The LLM Gateway's rate limit, as the LLM sandbox keeps it: requests per model within a 60-second window.

https://www.assemblyai.com/docs/llm-gateway/rate-limits: "LLM Gateway is rate limited per model, measured as requests
within a 60-second window", 30 requests a minute per model for a paid account, and "If you exceed the limit, the API
responds with a 429 status code"; the Troubleshooting page (https://www.assemblyai.com/docs/llm-gateway/troubleshooting,
"Rate limit exceeded (429)"): "You exceeded the per-model rate limit within a 60-second window. Each model has its own
limit." Every authorised request naming a model counts, refused or answered (the pages count "requests").
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

WINDOW_S = 60.0


@dataclass
class PerModelWindow:
    """Request times per model in the last :data:`WINDOW_S` seconds; ``limit`` None keeps no limit."""

    limit: int | None
    clock: Callable[[], float] = time.monotonic
    _times: dict[str, deque[float]] = field(default_factory=dict)

    def admit(self, model: str) -> bool:
        """Count a request for ``model``; False when the window already holds ``limit`` of them."""
        if self.limit is None:
            return True
        now = self.clock()
        times = self._times.setdefault(model, deque())
        while times and now - times[0] >= WINDOW_S:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True


def rate_limited(model: str, limit: int) -> web.Response:
    """The Gateway's 429 in its error shape (``{"error": {"code", "message", "metadata"}}``), with the
    ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining`` headers its Rate limits page names."""
    message = f"Rate limit exceeded: {limit} requests per minute for model {model!r}"
    headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0"}
    return web.json_response({"error": {"code": 429, "message": message, "metadata": {}}}, status=429, headers=headers)
