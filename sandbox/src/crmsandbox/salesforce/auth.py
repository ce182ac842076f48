"""Access tokens, refresh tokens, API usage counting: the org's authentication state.

Tokens look like real ones (``{orgId}!{random}``) because the Salesforce CLI checks that shape.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from .exceptions import InvalidSessionId, RequestLimitExceeded
from .store import Store

CLIENT_ID = "3MVG9sandbox.syncaudit.client"
CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - a fixed, local-only credential of the emulator
PASSWORD = "sandbox-password"  # noqa: S105
SECURITY_TOKEN = "sandboxtoken"  # noqa: S105


class Authority:
    """Mints and checks tokens; counts API calls against the daily allocation."""

    def __init__(
        self, store: Store, org_id: str, clock: Callable[[], float], token_lifetime_s: float, daily_api_limit: int
    ) -> None:
        self.store = store
        self.org_id = org_id
        self.clock = clock
        self.lifetime = token_lifetime_s
        self.daily_limit = daily_api_limit
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}
        self._usage_day = -1
        self._used = 0
        # Failure modes a test can switch on (control API): the org's answers to an unlucky integration.
        self.login_failure: str | None = None  # "ip_restricted": every login is refused for the caller's IP
        self.api_disabled = False  # the user lacks "API Enabled": REST calls answer API_DISABLED_FOR_ORG
        self.jwt_certificate: str | None = None  # PEM of the connected app's certificate: JWT signatures checked

    def mint(self, kind: str = "access") -> str:
        """A new token; access tokens expire after the configured lifetime, refresh tokens never."""
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(40).replace('-', '.').replace('_', '.')}"
        expires = self.clock() + self.lifetime if kind == "access" else float("inf")
        with self.store.write() as c:
            c.execute("INSERT INTO _tokens (token, kind, expires_at) VALUES (?, ?, ?)", (token, kind, expires))
        with self._lock:
            self._cache[token] = (kind, expires)
        return token

    def _lookup(self, token: str) -> tuple[str, float] | None:
        with self._lock:
            hit = self._cache.get(token)
        if hit is None:
            row = self.store.conn().execute("SELECT kind, expires_at FROM _tokens WHERE token = ?", (token,)).fetchone()
            if row is None:
                return None
            hit = (row[0], row[1])
            with self._lock:
                self._cache[token] = hit
        return hit

    def check(self, token: str | None) -> None:
        """INVALID_SESSION_ID unless ``token`` is a live access token."""
        hit = self._lookup(token) if token else None
        if hit is None or hit[0] != "access" or hit[1] <= self.clock():
            raise InvalidSessionId()

    def is_refresh_token(self, token: str) -> bool:
        hit = self._lookup(token)
        return hit is not None and hit[0] == "refresh"

    def revoke(self, token: str) -> None:
        with self.store.write() as c:
            c.execute("DELETE FROM _tokens WHERE token = ?", (token,))
        with self._lock:
            self._cache.pop(token, None)

    def expire_access_tokens(self) -> int:
        """End every live session now (clients get INVALID_SESSION_ID and must log in again)."""
        now = self.clock()
        with self.store.write() as c:
            n = c.execute(
                "UPDATE _tokens SET expires_at = ? WHERE kind = 'access' AND expires_at > ?", (now, now)
            ).rowcount
        with self._lock:
            self._cache.clear()
        return n

    def set_usage(self, used: int | None = None, daily: int | None = None) -> None:
        """Set the calls used today and/or the daily allocation (tests of the quota guard)."""
        with self._lock:
            if daily is not None:
                self.daily_limit = daily
            if used is not None:
                self._usage_day, self._used = int(self.clock() // 86400), used

    def forget_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._used = 0
            self.login_failure = None
            self.api_disabled = False
            self.jwt_certificate = None

    # -- API usage (per UTC day of the clock; resets at midnight like the rolling window roughly does)
    def count_call(self, n: int = 1) -> int:
        """Count ``n`` calls; REQUEST_LIMIT_EXCEEDED once the allocation is spent. Returns calls used."""
        day = int(self.clock() // 86400)
        with self._lock:
            if day != self._usage_day:
                self._usage_day, self._used = day, 0
            if self._used + n > self.daily_limit:
                self._used = self.daily_limit
                raise RequestLimitExceeded()
            self._used += n
            return self._used

    @property
    def used(self) -> int:
        with self._lock:
            return self._used if int(self.clock() // 86400) == self._usage_day else 0
