"""Intercom rate limits: fixed 10-second windows, headers on every response, 429 without Retry-After."""

from __future__ import annotations

import pytest

from crmsandbox.intercom import IntercomService
from crmsandbox.intercom.ratelimit import IntercomRateLimiter
from ic_support import FakeClock, http_client, serve_https, write_load_folder

T0 = 1_767_225_600.0  # a window boundary (multiple of 10)


def test_budget_is_spread_over_ten_second_windows():
    limiter = IntercomRateLimiter(60, FakeClock(T0))  # 60/min -> 10 per window
    decisions = [limiter.consume("tok") for _ in range(11)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False]
    assert decisions[0].limit == 10 and decisions[0].remaining == 9 and decisions[9].remaining == 0
    assert all(d.reset == T0 + 10 for d in decisions)


def test_window_resets_at_the_boundary_not_sliding():
    clock = FakeClock(T0 + 9.5)
    limiter = IntercomRateLimiter(12, clock)  # 2 per window
    assert [limiter.consume("k").allowed for _ in range(3)] == [True, True, False]
    clock.advance(0.5)  # next window begins at T0 + 10
    d = limiter.consume("k")
    assert d.allowed and d.remaining == 1 and d.reset == T0 + 20


def test_keys_have_separate_budgets_and_limit_changes_at_run_time():
    clock = FakeClock(T0)
    limiter = IntercomRateLimiter(6, clock)  # 1 per window
    assert limiter.consume("a").allowed and limiter.consume("b").allowed
    assert not limiter.consume("a").allowed
    limiter.set_limit(None)  # lifted
    lifted = limiter.consume("a")
    assert lifted.allowed and lifted.remaining > 1_000_000
    limiter.set_limit(6)
    assert not limiter.consume("a").allowed  # the open window keeps its usage
    with pytest.raises(ValueError):
        limiter.set_limit(0)


@pytest.fixture
def small_limit(tmp_path):
    clock = FakeClock(T0)
    service = IntercomService(None, write_load_folder(tmp_path, n_contacts=3), clock=clock, rate_limit_per_minute=30)
    with serve_https(service, tmp_path) as facts:
        yield service, facts, clock
    service.close()


def test_http_429_then_recovery_after_reset(small_limit):
    service, facts, clock = small_limit
    with http_client(facts) as api:
        statuses = [api.get("/contacts") for _ in range(6)]
        assert [r.status_code for r in statuses] == [200] * 5 + [429]
        last = statuses[-1]
        assert last.json()["errors"][0]["code"] == "rate_limit_exceeded"
        assert last.headers["X-RateLimit-Limit"] == "5" and last.headers["X-RateLimit-Remaining"] == "0"
        assert int(last.headers["X-RateLimit-Reset"]) == T0 + 10 and "Retry-After" not in last.headers
        assert [int(r.headers["X-RateLimit-Remaining"]) for r in statuses[:5]] == [4, 3, 2, 1, 0]
        clock.advance(10)
        assert api.get("/contacts").status_code == 200
        service.set_rate_limit(None)
        assert all(api.get("/contacts").status_code == 200 for _ in range(8))


def test_errors_carry_rate_limit_headers_too(small_limit):
    _, facts, _ = small_limit
    with http_client(facts, token="not-the-token") as bad:
        r = bad.get("/contacts")
        assert r.status_code == 401 and r.headers["X-RateLimit-Remaining"] == "4"
