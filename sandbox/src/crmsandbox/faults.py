"""Reproducible fault injection for the sandbox.

A profile names rates per fault kind. Whether request number ``seq`` gets a fault is decided by hashing
(seed, seq, kind), so a run with the same seed and the same request order sees the same faults, and
concurrent requests do not share a random stream. Faults are injected *before* the emulator handles the
request (nothing is written), except ``drop_after``, which handles the request and then drops the
connection: the write happened but the client never hears of it — the case exactly-once writers must survive.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

KINDS = ("server_error", "rate_limit", "expired_session", "drop", "drop_after", "slow", "record_failure")


@dataclass(frozen=True)
class FaultRates:
    server_error: float = 0.0  # 500/502/503 with the system's error body
    rate_limit: float = 0.0  # Intercom: a 429 storm (no Retry-After); Salesforce: 503 SERVER_UNAVAILABLE
    expired_session: float = 0.0  # Salesforce: 401 INVALID_SESSION_ID on a data call
    drop: float = 0.0  # connection closed before the request is handled
    drop_after: float = 0.0  # request handled, then the connection is closed without a response
    slow: float = 0.0  # the response is delayed by slow_ms
    record_failure: float = 0.0  # per-record UNABLE_TO_LOCK_ROW / DUPLICATE_VALUE in collections and bulk ingest
    slow_ms: float = 300.0
    storm_length: int = 4  # Intercom: requests answered 429 after a storm starts, until its reset


PROFILES: dict[str, FaultRates] = {
    "none": FaultRates(),
    "flaky": FaultRates(
        server_error=0.03, rate_limit=0.02, expired_session=0.01, drop=0.01, slow=0.02, record_failure=0.01
    ),
    "chaos": FaultRates(
        server_error=0.10,
        rate_limit=0.06,
        expired_session=0.03,
        drop=0.03,
        drop_after=0.02,
        slow=0.05,
        record_failure=0.05,
        storm_length=8,
    ),
}


def profile(name: str, **overrides: float) -> FaultRates:
    if name not in PROFILES:
        raise ValueError(f"unknown fault profile {name!r}; choose one of {', '.join(PROFILES)}")
    return replace(PROFILES[name], **overrides) if overrides else PROFILES[name]


def _unit(seed: int, seq: int, salt: str) -> float:
    h = hashlib.blake2b(f"{seed}:{seq}:{salt}".encode(), digest_size=8).digest()
    return struct.unpack(">Q", h)[0] / 2**64


class FaultInjector:
    """Decides, per request and per record, which fault (if any) to inject."""

    def __init__(self, rates: FaultRates | None = None, seed: int = 0, profile_name: str = "none") -> None:
        self._lock = threading.Lock()
        self.configure(rates or FaultRates(), seed, profile_name)

    def configure(self, rates: FaultRates, seed: int, profile_name: str = "custom") -> None:
        with self._lock:
            self.rates = rates
            self.seed = seed
            self.profile_name = profile_name
            self._seq = 0
            self._storm_left = 0
            self._storm_reset = 0.0
            self.injected: dict[str, int] = dict.fromkeys(KINDS, 0)

    def describe(self) -> dict[str, Any]:
        return {"profile": self.profile_name, "seed": self.seed, "rates": asdict(self.rates), "injected": self.injected}

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def decide(self, seq: int, system: str, *, auth_path: bool) -> str | None:
        """The fault for request ``seq`` (or None)."""
        r = self.rates
        with self._lock:
            if system == "intercom" and self._storm_left > 0:
                self._storm_left -= 1
                self.injected["rate_limit"] += 1
                return "rate_limit"
        order = ["drop", "server_error", "rate_limit", "expired_session", "drop_after", "slow"]
        for kind in order:
            rate = getattr(r, kind)
            if rate <= 0:
                continue
            if auth_path and kind in {"expired_session", "rate_limit", "drop_after"}:
                continue
            if system != "salesforce" and kind == "expired_session":
                continue
            if _unit(self.seed, seq, kind) < rate:
                with self._lock:
                    self.injected[kind] += 1
                    if kind == "rate_limit" and system == "intercom":
                        self._storm_left = max(0, r.storm_length - 1)
                        self._storm_reset = time.time() + 2
                return kind
        return None

    def record_failure(self, seq: int, index: int) -> str | None:
        """A per-record error code for record ``index`` of request ``seq`` (or None)."""
        rate = self.rates.record_failure
        if rate <= 0 or _unit(self.seed, seq, f"rec{index}") >= rate:
            return None
        with self._lock:
            self.injected["record_failure"] += 1
        return "UNABLE_TO_LOCK_ROW" if _unit(self.seed, seq, f"kind{index}") < 0.7 else "DUPLICATE_VALUE"

    def storm_reset_epoch(self) -> int:
        return int(max(self._storm_reset, time.time() + 1))


def error_response(system: str, kind: str, seq: int, reset_epoch: int) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of an injected error, in the system's own wire format."""
    if system == "salesforce":
        if kind == "expired_session":
            body = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            return 401, [("Content-Type", "application/json;charset=UTF-8")], json.dumps(body).encode()
        status = (500, 502, 503)[seq % 3] if kind == "server_error" else 503
        code = "UNKNOWN_EXCEPTION" if status == 500 else "SERVER_UNAVAILABLE"
        body = [{"message": f"Injected sandbox fault (request {seq})", "errorCode": code}]
        return status, [("Content-Type", "application/json;charset=UTF-8")], json.dumps(body).encode()
    if kind == "rate_limit":
        body = {
            "type": "error.list",
            "request_id": f"sandbox-{seq}",
            "errors": [{"code": "rate_limit_exceeded", "message": "Exceeded rate limit"}],
        }
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("X-RateLimit-Limit", "0"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", str(reset_epoch)),
        ]
        return 429, headers, json.dumps(body).encode()
    status = (500, 502, 503)[seq % 3]
    code = "server_error" if status == 500 else "service_unavailable"
    body = {"type": "error.list", "request_id": f"sandbox-{seq}", "errors": [{"code": code, "message": "Server Error"}]}
    return status, [("Content-Type", "application/json; charset=utf-8")], json.dumps(body).encode()
