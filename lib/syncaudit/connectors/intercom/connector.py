"""The one Intercom connector (requests) for reads and writes: token, region, API version, pacing, retries.

Reads (:meth:`IntercomConnector.request`) retry 5xx and dropped connections; writes
(:meth:`IntercomConnector.send` with ``write=True``) never re-send a request whose answer was lost: a dropped
connection or a 500/502 raises :class:`InDoubt` and the apply engine reads the record before deciding.

Intercom answers every call with ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (Unix seconds when the window resets). The limiter keeps
a budget for the current window, shared by all threads, and makes callers wait
for the reset when it is spent, so a normal run never sees a 429. A 429 that
comes anyway (another app on the workspace, a storm) waits for the reset too:
Intercom sends no Retry-After.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import requests

from syncaudit.connectors.http import TRANSIENT_EXCEPTIONS, Backoff, CallCounter
from syncaudit.errors import FatalAPIError, RetriableAPIError
from syncaudit.redact import register_secret

MAX_WINDOW_WAIT_S = 12.0  # windows are 10 s; never trust a reset further away than that (clock skew)


class InDoubt(Exception):
    """A write may have been applied: its answer was lost (connection dropped, 500/502)."""


class IntercomNotFound(FatalAPIError):
    """404 from Intercom (a contact or conversation that vanished between list and fetch)."""


class IntercomRateLimiter:
    """A shared per-window call budget fed by the rate-limit headers."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        reserve: int = 0,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.reserve = reserve  # calls left for other tools sharing the workspace
        self.budget: int | None = None
        self.reset_at: float | None = None
        self.limit: int | None = None
        self.waits = 0
        self.waited_s = 0.0
        self._probe = False  # one call in flight to learn the new window's budget
        self._in_flight = 0  # calls let through and not answered yet
        self._lock = threading.Lock()
        self.notify: Callable[[str], None] | None = None  # told of waits for a window (the pull's progress)
        self._told: float | None = None

    def refused(self, what: str) -> None:
        """After a 429: say what the wait is for (once per window)."""
        if self.notify is not None and self._told != self.reset_at:
            self._told = self.reset_at
            self.notify(f"Intercom 429 on {what}: waiting {self._wait_s(self.clock()):.0f} s for the rate-limit window")

    def _wait_s(self, now: float) -> float:
        reset = self.reset_at or now
        return min(max(reset - now, 0.0) + 0.05, MAX_WINDOW_WAIT_S)

    def acquire(self) -> None:
        """Block until a call fits in the current window, then take it from the budget."""
        while True:
            with self._lock:
                now = self.clock()
                if self.reset_at is not None and now >= self.reset_at:
                    self.budget, self.reset_at = None, None  # new window: the next answer re-seeds it
                if self.budget is None:
                    # Unknown budget: let one call through; the others wait for its headers.
                    if not self._probe:
                        self._probe = True
                        self._in_flight += 1
                        return
                    wait = 0.01
                elif self.budget > self.reserve:
                    self.budget -= 1
                    self._in_flight += 1
                    return
                else:
                    wait = self._wait_s(now)
                    self.waits += 1
                    self.waited_s += wait
                    if self.notify is not None and wait >= 1.0 and self._told != self.reset_at:
                        self._told = self.reset_at  # once per window, not once per waiting thread
                        self.notify(f"Intercom rate limit: window budget spent, waiting {wait:.0f} s for the next one")
                if self.reset_at is not None and wait >= MAX_WINDOW_WAIT_S:
                    self.reset_at = now + wait  # distrust a far reset: try again after one window
            self.sleep(wait)

    def abort(self) -> None:
        """A call got no answer: let another one probe."""
        with self._lock:
            self._probe = False
            self._in_flight = max(self._in_flight - 1, 0)

    def update(self, headers: Any, *, exhausted: bool = False) -> None:
        try:
            remaining = int(headers.get("X-RateLimit-Remaining"))
            reset = float(headers.get("X-RateLimit-Reset"))
        except (TypeError, ValueError):
            with self._lock:
                self._probe = False
                self._in_flight = max(self._in_flight - 1, 0)
            return
        with self._lock:
            self._probe = False
            self._in_flight = max(self._in_flight - 1, 0)
            if headers.get("X-RateLimit-Limit"):
                try:
                    self.limit = int(headers["X-RateLimit-Limit"])
                except ValueError:
                    pass
            if exhausted:
                remaining = 0
            if self.reset_at is None or reset > self.reset_at:
                # A new window. Calls still in flight were let through on the last window's budget, but
                # those the server has not seen yet will count in this one: leave room for them.
                self.reset_at, self.budget = reset, max(remaining - self._in_flight, 0)
            elif reset == self.reset_at:
                self.budget = remaining if self.budget is None else min(self.budget, remaining)


class IntercomConnector:
    """A workspace connection over requests; thread-safe."""

    def __init__(
        self,
        base_url: str,
        token: str,
        http: requests.Session,
        *,
        version: str = "2.16",
        limiter: IntercomRateLimiter | None = None,
        backoff: Backoff | None = None,
        max_429: int = 50,
    ) -> None:
        register_secret(token)
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Intercom-Version": version,
        }
        self.version = version
        self.limiter = limiter or IntercomRateLimiter()
        self.backoff = backoff or Backoff()
        self.counter = CallCounter()
        self.rate_limited = 0
        self.max_429 = max_429

    def api_calls(self) -> int:
        return self.counter.total

    @property
    def host(self) -> str:
        return self.base_url.split("/")[2]

    def _unreachable(self, exc: BaseException) -> FatalAPIError:
        return FatalAPIError(
            f"cannot reach the Intercom host {self.host} ({type(exc).__name__})",
            code="UNREACHABLE",
            system="intercom",
            hint="check the network and proxy, and intercom.region / intercom.base_url in the config",
        )

    def _wait_or_unreachable(self, attempt: int, exc: BaseException, what: str) -> None:
        """Back off; once the attempts are spent, a host that never answered is named as unreachable."""
        try:
            self.backoff.wait(attempt, exc, what)
        except RetriableAPIError:
            if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
                raise self._unreachable(exc) from None
            raise

    def send(self, method: str, path: str, *, write: bool = False, **kw: Any) -> requests.Response:
        """One raw call for a writer. 429 waits for the window's reset and 503 backs off (nothing processed);
        a lost answer or a 500/502 on a ``write`` raises :class:`InDoubt`; 401 is fatal. Other 4xx answers are
        returned for the caller to read (a per-record failure)."""
        url = path if path.startswith("https://") else f"{self.base_url}/{path.lstrip('/')}"
        attempt = 0
        limited = 0
        while True:
            self.limiter.acquire()
            try:
                r = self.http.request(method, url, headers=self.headers, **kw)
            except TRANSIENT_EXCEPTIONS as exc:
                self.limiter.abort()
                if write:
                    raise InDoubt(type(exc).__name__) from None
                self._wait_or_unreachable(attempt, exc, f"Intercom {method} {path} ({self.host})")
                attempt += 1
                continue
            except BaseException:
                self.limiter.abort()  # not sent or not answered: no longer in flight
                raise
            self.counter.add(method)
            if r.status_code == 429:
                self.rate_limited += 1
                limited += 1
                self.limiter.update(r.headers, exhausted=True)
                self.limiter.refused(f"{method} {path}")
                if limited > self.max_429:
                    raise RetriableAPIError(
                        f"Intercom kept answering 429 to {method} {path} ({limited} times)",
                        status=429,
                        code="rate_limit_exceeded",
                        system="intercom",
                        hint="another app may be using the workspace's rate limit; run the command again later",
                    )
                continue
            self.limiter.update(r.headers)
            if r.status_code == 503 or (r.status_code >= 500 and not write):
                err = RetriableAPIError(f"{r.status_code}", status=r.status_code, system="intercom")
                self.backoff.wait(attempt, err, f"Intercom {method} {path}")
                attempt += 1
                continue
            if r.status_code >= 500:
                raise InDoubt(f"HTTP {r.status_code}")
            if r.status_code == 401:
                raise self._error(r, f"{method} {path}")
            return r

    def me(self) -> dict[str, Any]:
        """``GET /me``: the admin and workspace the token acts for (the token's reach)."""
        return self.request("GET", "me", "me")

    def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """One read: the body as a dict, or what ``parse`` makes of its bytes (a ``ValueError`` from it means
        an unreadable, e.g. truncated, body: retried like a 5xx)."""
        url = path if path.startswith("https://") else f"{self.base_url}/{path.lstrip('/')}"
        attempt = 0
        limited = 0
        while True:
            self.limiter.acquire()
            try:
                resp = self.http.request(method, url, headers=self.headers, params=params, json=json)
            except TRANSIENT_EXCEPTIONS as exc:
                self.limiter.abort()
                self._wait_or_unreachable(attempt, exc, f"Intercom {what} ({self.host})")
                attempt += 1
                continue
            except BaseException:
                self.limiter.abort()  # not sent or not answered: no longer in flight
                raise
            self.counter.add(what.split(" ")[0])
            status = resp.status_code
            if status == 429:
                self.rate_limited += 1
                limited += 1
                self.limiter.update(resp.headers, exhausted=True)
                self.limiter.refused(what)
                if limited > self.max_429:
                    raise RetriableAPIError(
                        f"Intercom kept answering 429 to {what} ({limited} times)",
                        status=429,
                        code="rate_limit_exceeded",
                        system="intercom",
                        hint="another app may be using the workspace's rate limit; run the pull again later",
                    )
                continue  # acquire() waits for X-RateLimit-Reset
            self.limiter.update(resp.headers)
            if status >= 500:
                err = RetriableAPIError(f"{status}", status=status, system="intercom")
                self.backoff.wait(attempt, err, f"Intercom {what}")
                attempt += 1
                continue
            if status >= 400:
                raise self._error(resp, what)
            try:
                if parse is not None:
                    return parse(resp.content)
                return orjson.loads(resp.content)  # a 150-contact page decodes ~3x faster than with json
            except ValueError:
                # A truncated body (dropped mid-transfer): transient.
                err = RetriableAPIError("unreadable JSON body", status=status, system="intercom")
                self.backoff.wait(attempt, err, f"Intercom {what}")
                attempt += 1

    def _error(self, resp: requests.Response, what: str) -> FatalAPIError:
        code, msg = None, resp.text[:200]
        try:
            errs = resp.json().get("errors") or [{}]
            code, msg = errs[0].get("code"), errs[0].get("message") or ""
        except (ValueError, AttributeError):
            pass
        if resp.status_code == 401:
            return FatalAPIError(
                f"Intercom refused the access token ({code}: {msg})",
                status=401,
                code=code,
                system="intercom",
                hint="check the token in the environment variable named by intercom.token_env; a token of an EU or "
                f"AU workspace works only on its region's host (intercom.region; this call went to {self.host})",
            )
        cls = IntercomNotFound if resp.status_code == 404 else FatalAPIError
        return cls(
            f"Intercom {what} failed: {resp.status_code} {code}: {msg}",
            status=resp.status_code,
            code=code,
            system="intercom",
        )
