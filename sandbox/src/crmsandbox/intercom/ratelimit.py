"""Intercom's rate limit: a per-minute budget enforced in fixed 10-second windows.

Every response carries X-RateLimit-Limit (the window's budget),
X-RateLimit-Remaining and X-RateLimit-Reset (Unix seconds when the window
ends). Over budget the caller gets 429 ``rate_limit_exceeded`` without a
Retry-After header. Time comes from an injectable clock so tests can move it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 10
UNLIMITED_WINDOW = 1_000_000_000  # what the headers say while the limit is lifted


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class IntercomRateLimiter:
    """Fixed 10-s windows per key (token); ``per_minute=None`` lifts the limit."""

    def __init__(self, per_minute: int | None, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (window start, used)
        self.set_limit(per_minute)

    def set_limit(self, per_minute: int | None, *, window_s: float = WINDOW_S) -> None:
        """Change the budget at run time (None lifts it); open windows keep their usage.

        ``window_s`` shortens the windows for tests (Intercom's are 10 s): the per-minute budget is spread
        over them evenly all the same.
        """
        if per_minute is not None and (not isinstance(per_minute, int) or per_minute < 1):
            raise ValueError(f"rate limit must be a positive number of calls per minute or None, got {per_minute!r}")
        if isinstance(window_s, bool) or not isinstance(window_s, (int, float)) or not 0 < window_s <= 60:
            raise ValueError(f"window_s must be a number of seconds from 0 to 60, got {window_s!r}")
        self.per_minute = per_minute
        self.window_s = float(window_s)
        # "spread evenly over 10-second windows": 10,000/min -> 1,666 per window, at least 1
        self.per_window = None if per_minute is None else max(1, math.floor(per_minute * self.window_s / 60))

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def consume(self, key: str) -> RateDecision:
        """Count one call for ``key`` and say whether it is allowed."""
        now = self.clock()
        start = now // self.window_s * self.window_s
        reset_at = math.ceil(start + self.window_s)
        with self._lock:
            if self.per_window is None:
                return RateDecision(True, UNLIMITED_WINDOW, UNLIMITED_WINDOW - 1, reset_at)
            w_start, used = self._windows.get(key, (start, 0))
            if w_start != start:
                used = 0
            if used >= self.per_window:
                self._windows[key] = (start, used)
                return RateDecision(False, self.per_window, 0, reset_at)
            used += 1
            self._windows[key] = (start, used)
            return RateDecision(True, self.per_window, self.per_window - used, reset_at)
