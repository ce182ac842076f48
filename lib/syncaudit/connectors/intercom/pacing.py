"""How many Intercom calls to keep in flight: enough to use the rate limit, no more.

Intercom spreads its limit over 10-second windows and says the window's budget in ``X-RateLimit-Limit``.
A worker makes one call at a time, so the limit is reached with (calls allowed a second) x (seconds a
call takes) workers; fewer leave the limit unused on a slow network, more only queue in the limiter.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

WINDOW_S = 10.0
MAX_WORKERS = 32
HEADROOM = 1.25  # calls vary in length: a quarter more keeps the window busy
MIN_PAGES = 64  # below this a pull is short anyway: the configured workers do (and no extra partial pages)

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def rate_limited_workers(client: Any, configured: int, call_s: float, pages: int) -> int:
    """At least ``configured``; more when the measured call time and the window budget call for it."""
    limit = getattr(getattr(client, "limiter", None), "limit", None)
    if not limit or call_s <= 0 or pages < MIN_PAGES:
        return configured
    need = math.ceil(limit / WINDOW_S * call_s * HEADROOM)
    return max(configured, min(MAX_WORKERS, need))


def signal_when_done(futures: list[Any], pages: queue.Queue, done: object) -> None:
    """From a daemon thread, put the first exception of ``futures`` on ``pages``, or ``done`` once every one has
    finished: the consumer reading ``pages`` then knows when the readers are through (or failed)."""

    def closer() -> None:
        for f in futures:
            try:
                f.result()
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
                pages.put(exc)
                return
        pages.put(done)

    threading.Thread(target=closer, daemon=True).start()


def feed_pages(pages: queue.Queue, source: Iterable[Any], stop: threading.Event) -> None:
    """Put each page of ``source`` on ``pages`` until ``stop`` is set; never blocks for good on a consumer that
    has gone (a full queue is retried every 0.2 s while the run goes on)."""
    for page in source:
        while not stop.is_set():
            try:
                pages.put(page, timeout=0.2)
                break
            except queue.Full:
                continue
        if stop.is_set():
            return
