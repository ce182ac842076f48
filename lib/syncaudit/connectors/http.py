"""HTTP plumbing shared by both sources: TLS-verified sessions with a timeout on every call,
and retry with exponential backoff and full jitter."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from syncaudit.errors import RetriableAPIError
from syncaudit.http import verified_session

# Dropped connections, resets, truncated bodies and timeouts: worth another try.
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class TimeoutHTTPAdapter(HTTPAdapter):
    """Applies a default timeout to every request (simple-salesforce passes none)."""

    def __init__(self, timeout_s: float, pool: int) -> None:
        self.timeout_s = timeout_s
        super().__init__(pool_connections=pool, pool_maxsize=pool, max_retries=0)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().send(request, **kwargs)


def build_http_session(ca_cert: str | None, timeout_s: float, pool: int = 16) -> requests.Session:
    """A requests session that verifies TLS (with an extra CA when given) and never waits forever."""
    # Verification is always on; verified_session keeps the CA even when REQUESTS_CA_BUNDLE is set.
    http = verified_session(ca_cert)
    adapter = TimeoutHTTPAdapter(timeout_s, pool)
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    return http


class CallCounter:
    """Thread-safe count of HTTP responses received, by label."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.by_label: dict[str, int] = {}

    def add(self, label: str = "") -> None:
        with self._lock:
            self.total += 1
            self.by_label[label] = self.by_label.get(label, 0) + 1


class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog), capped."""

    def __init__(
        self,
        *,
        attempts: int = 8,
        base_s: float = 0.25,
        cap_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.attempts = attempts
        self.base_s = base_s
        self.cap_s = cap_s
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.notify: Callable[[str], None] | None = None  # told what each retry waits for (the pull's progress)

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.cap_s, self.base_s * (2**attempt)))

    def wait(self, attempt: int, err: BaseException, what: str) -> None:
        if attempt + 1 >= self.attempts:
            if isinstance(err, RetriableAPIError):
                raise RetriableAPIError(
                    f"{what}: still failing after {self.attempts} attempts: {err.message}",
                    status=err.status,
                    code=err.code,
                    system=err.system,
                    hint="the service looks unhealthy; run the pull again later (finished streams are kept)",
                ) from err
            raise RetriableAPIError(
                f"{what}: still failing after {self.attempts} attempts: {type(err).__name__}",
                hint="check the network; run the pull again later (finished streams are kept)",
            ) from err
        delay = self.delay(attempt)
        if self.notify is not None:
            reason = err.message if isinstance(err, RetriableAPIError) else type(err).__name__
            self.notify(f"{what}: {reason}; retrying in {delay:.1f} s (attempt {attempt + 2} of {self.attempts})")
        self.sleep(delay)
