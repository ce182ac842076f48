"""Pieces of the sources that need no server: pacing, backoff, partitions, typing of hostile values."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from syncaudit.connectors.arrow import UTC_US, coerce
from syncaudit.connectors.http import Backoff
from syncaudit.connectors.intercom.client import IntercomRateLimiter
from syncaudit.connectors.intercom.streams import DAY, date_range_filter, day_partitions
from syncaudit.errors import RetriableAPIError


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_limiter_spends_the_window_then_waits_for_reset() -> None:
    clock = FakeClock(1000.0)
    lim = IntercomRateLimiter(clock=clock, sleep=clock.sleep)
    lim.acquire()  # unknown budget: the first call seeds it
    lim.update({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "1010", "X-RateLimit-Limit": "5"})
    for _ in range(3):
        lim.acquire()
    assert clock.slept == []
    lim.acquire()  # budget spent: wait for the reset, then go
    assert clock.slept and 10.0 <= sum(clock.slept) <= 10.2
    assert lim.waits == 1


def test_limiter_after_429_waits_even_with_budget_claimed() -> None:
    clock = FakeClock(50.0)
    lim = IntercomRateLimiter(clock=clock, sleep=clock.sleep)
    lim.update({"X-RateLimit-Remaining": "100", "X-RateLimit-Reset": "55"})
    lim.update({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "55"}, exhausted=True)  # a 429
    lim.acquire()
    assert 5.0 <= sum(clock.slept) <= 5.2


def test_limiter_distrusts_a_reset_far_in_the_future() -> None:
    clock = FakeClock(0.0)
    lim = IntercomRateLimiter(clock=clock, sleep=clock.sleep)
    lim.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "100000"})
    lim.acquire()
    assert sum(clock.slept) <= 12.0


def test_backoff_has_jitter_cap_and_gives_up_with_a_clear_error() -> None:
    slept: list[float] = []
    b = Backoff(attempts=4, base_s=1, cap_s=3, sleep=slept.append, rng=random.Random(1))
    err = RetriableAPIError("503", status=503, system="intercom")
    for i in range(3):
        b.wait(i, err, "Intercom list contacts")
    assert len(slept) == 3 and all(0 <= s <= 3 for s in slept) and len(set(slept)) == 3
    with pytest.raises(RetriableAPIError, match="still failing after 4 attempts"):
        b.wait(3, err, "Intercom list contacts")


def test_day_partitions_cover_the_range_without_gaps() -> None:
    first = int(datetime(2024, 1, 1, 13, tzinfo=UTC).timestamp())
    last = int(datetime(2024, 3, 1, 2, tzinfo=UTC).timestamp())
    parts = day_partitions(first, last, 8)
    assert len(parts) == 8
    assert parts[0][0] is None and parts[-1][1] is None
    for (_, end), (start, _) in zip(parts, parts[1:], strict=False):
        assert end == start and end % DAY == 0
    assert day_partitions(first, first + 60, 8) == [(None, None)]


def test_date_filter_accounts_for_day_truncation() -> None:
    d = 1_700_006_400  # a UTC midnight
    assert date_range_filter("created_at", d, None) == {"field": "created_at", "operator": ">", "value": d - DAY}
    f = date_range_filter("created_at", d, d + 3 * DAY)
    assert f == {
        "operator": "AND",
        "value": [
            {"field": "created_at", "operator": ">", "value": d - DAY},
            {"field": "created_at", "operator": "<", "value": d + 3 * DAY},
        ],
    }
    assert date_range_filter("created_at", None, None) is None


def test_hostile_values_become_null_not_crashes() -> None:
    assert coerce(["true", "FALSE", None, "maybe"], pa.bool_()).to_pylist() == [True, False, None, None]
    assert coerce([1, "x", 2.5, {"a": 1}], pa.float64()).to_pylist() == [1.0, None, 2.5, None]
    ts = coerce(["2024-01-02T17:38:59.000+0000", "2024-01-02T17:38:59Z", "nope"], UTC_US).to_pylist()
    assert ts[0] == ts[1] == datetime(2024, 1, 2, 17, 38, 59, tzinfo=UTC) and ts[2] is None
    assert coerce([1734537424, None], UTC_US).to_pylist()[0] == datetime.fromtimestamp(1734537424, UTC)
    # Unix seconds no date can hold (milliseconds times a thousand, beyond 2**53) or below the microsecond
    big = coerce([10**15, 2**53 + 1, 1734537424, None], UTC_US).to_pylist()
    assert big == [None, None, datetime.fromtimestamp(1734537424, UTC), None]
    assert coerce([1734537424.0000005, -5], UTC_US).to_pylist() == [
        datetime.fromtimestamp(1734537424, UTC),
        datetime.fromtimestamp(-5, UTC),
    ]
    assert coerce(["'; DROP TABLE x; --", "\x00\u202e"], pa.string()).to_pylist() == [
        "'; DROP TABLE x; --",
        "\x00\u202e",
    ]


def test_workers_follow_the_rate_limit_and_the_call_time() -> None:
    from types import SimpleNamespace

    from syncaudit.connectors.intercom.pacing import rate_limited_workers

    client = SimpleNamespace(limiter=SimpleNamespace(limit=1666))  # 10,000 a minute in 10-s windows
    assert rate_limited_workers(client, 4, 0.05, pages=1000) == 11  # 166.6/s x 50 ms x 1.25
    assert rate_limited_workers(client, 4, 0.5, pages=1000) == 32  # capped
    assert rate_limited_workers(client, 4, 0.005, pages=1000) == 4  # never below the configured count
    assert rate_limited_workers(client, 4, 0.05, pages=10) == 4  # a short pull keeps the configured count
    assert rate_limited_workers(SimpleNamespace(limiter=SimpleNamespace(limit=None)), 4, 0.05, pages=1000) == 4


def test_limiter_counts_calls_still_in_flight_against_a_new_window() -> None:
    """Calls sent at the end of one window and answered late land in the next one on the server. A new
    window's budget, learned from the first answer in it, must leave room for them, or the last calls of the
    window get 429 (seen under load with short windows)."""
    from crmsandbox.intercom.ratelimit import IntercomRateLimiter as ServerLimiter

    clock = FakeClock(100.0)
    server = ServerLimiter(per_minute=48, clock=clock)  # 8 calls per 10-s window
    lim = IntercomRateLimiter(clock=clock, sleep=clock.sleep)

    def answer() -> bool:
        d = server.consume("token")
        lim.update(d.headers(), exhausted=not d.allowed)
        return d.allowed

    lim.acquire()
    assert answer()  # seeds: 7 left in the window ending at 110
    for _ in range(5):
        lim.acquire()
        assert answer()
    lim.acquire()
    lim.acquire()  # two calls sent at the window's end (budget 0 now) ...
    clock.t = 110.2  # ... still in flight when the window turns
    lim.acquire()  # the first call of the new window probes its budget
    refused = 0 if answer() else 1
    sent = 0
    while lim.budget is not None and lim.budget > 0:  # the rest of the new window: what the limiter allows
        lim.acquire()
        refused += 0 if answer() else 1
        sent += 1
    assert clock.slept == [] and sent >= 3  # the window is still used, minus room for the late calls
    refused += sum(0 if answer() else 1 for _ in range(2))  # the two late calls reach the server now
    assert refused == 0
