"""Intercom write path for `syncaudit apply`: contact/company updates and lead merges, paced by rate headers.

Intercom answers every call with X-RateLimit-Limit/Remaining/Reset and a 429 carries no Retry-After, so the
:class:`IntercomRateLimiter` spends what the window allows and then waits for its reset — no 429 in normal
running. A 429 or 503 means "not processed": retried. A lost answer or a 500/502 on a write is *in doubt*:
the apply engine reads the contact before deciding anything.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from syncaudit.changes.connect import Connection, intercom_connection
from syncaudit.changes.model import Operation
from syncaudit.changes.writer_api import JobHook, WriteResult, same_value
from syncaudit.config import Config
from syncaudit.errors import FatalAPIError, RetriableAPIError

SEARCH_CHUNK = 100
TOP_LEVEL = frozenset(
    {
        "role",
        "external_id",
        "email",
        "phone",
        "name",
        "avatar",
        "signed_up_at",
        "last_seen_at",
        "owner_id",
        "unsubscribed_from_emails",
        "website",
        "industry",
        "size",
        "plan",
        "monthly_spend",
    }
)


class _InDoubt(Exception):
    pass


class IntercomRateLimiter:
    """Shared by all worker threads: hands out the window's remaining calls, then sleeps to its reset.

    Calls in flight are not yet reflected in the last X-RateLimit-Remaining seen, so they are subtracted;
    while a window's size is unknown (at start, after a reset) only one call goes out to learn it.
    """

    def __init__(self, reserve: int = 0, max_wait_s: float = 11.0) -> None:
        self.reserve = reserve
        self.max_wait_s = max_wait_s
        self.remaining: int | None = None
        self.reset = 0.0
        self.limit: int | None = None
        self.inflight = 0
        self.waited_s = 0.0
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while True:
                if self.remaining is None:
                    if self.inflight == 0:
                        break
                    self._cond.wait(0.05)
                    continue
                if self.remaining > self.reserve:
                    self.remaining -= 1
                    break
                wait = min(self.reset - time.time(), self.max_wait_s)
                if wait > 0:
                    t0 = time.time()
                    self._cond.wait(wait + 0.01)
                    self.waited_s += time.time() - t0
                    continue
                self.remaining = None  # a new window: learn its size from the next answer
            self.inflight += 1

    def release(self) -> None:
        with self._cond:
            self.inflight = max(0, self.inflight - 1)
            self._cond.notify_all()

    def update(self, headers: Any, status: int) -> None:
        """Learn from an answer's headers (call :meth:`release` first)."""
        try:
            remaining = int(headers["X-RateLimit-Remaining"])
            reset = float(headers["X-RateLimit-Reset"])
            limit = int(headers.get("X-RateLimit-Limit") or 0) or None
        except (KeyError, ValueError, TypeError):
            return
        with self._cond:
            left = max(0, remaining - self.inflight)
            if status == 429:
                self.remaining, self.reset = 0, max(reset, self.reset)
            elif reset > self.reset or self.remaining is None:
                self.remaining, self.reset, self.limit = left, max(reset, self.reset), limit or self.limit
            elif reset == self.reset:
                self.remaining = min(self.remaining, left)
            self._cond.notify_all()


def _flatten(contact: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in contact.items() if k != "custom_attributes"}
    for k, v in (contact.get("custom_attributes") or {}).items():
        out[f"custom_attributes.{k}"] = v
    return out


# Fields that move without anyone editing the record (activity, derived) — not evidence of a concurrent write.
_VOLATILE_PREFIXES = ("updated_at", "_version", "last_", "browser", "os", "android_", "ios_", "session_count")


def concurrent_fields(seen: dict[str, Any], now: dict[str, Any], ours: set[str]) -> list[str]:
    """Fields outside our write whose value differs between the re-read and the write's answer: evidence that
    someone else wrote the record in between (and may have set one of our fields too, which we overwrote)."""
    out = []
    for f in sorted((set(seen) | set(now)) - ours):
        if f.startswith(_VOLATILE_PREFIXES):
            continue
        a, b = seen.get(f), now.get(f)
        if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
            continue  # nested lists (tags, companies, notes) have their own write paths and paging
        if not same_value(a, b):
            out.append(f)
    return out


def _body(after: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for k, v in after.items():
        if k.startswith("custom_attributes."):
            body.setdefault("custom_attributes", {})[k.split(".", 1)[1]] = v
        else:
            body[k] = v
    return body


class IntercomWriter:
    system = "intercom"

    def __init__(self, conn: Connection, *, workers: int = 8, api_version: str = "2.16", max_retries: int = 8) -> None:
        self.conn = conn
        self.workers = workers
        self.api_version = api_version
        self.max_retries = max_retries
        self.limiter = IntercomRateLimiter()
        self.calls = 0
        self.rate_limited = 0  # 429 answers seen
        self.seen: dict[str, dict[str, Any]] = {}  # key -> the record as last re-read before its write
        self._local = threading.local()
        self._count_lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: Config) -> IntercomWriter:
        return cls(intercom_connection(cfg))

    def _session(self) -> requests.Session:
        s = getattr(self._local, "s", None)
        if s is None:
            s = self.conn.session()
            s.headers.update(
                {
                    "Authorization": f"Bearer {self.conn.token}",
                    "Accept": "application/json",
                    "Intercom-Version": self.api_version,
                }
            )
            self._local.s = s
        return s

    def _call(self, method: str, path: str, *, write: bool = False, **kw: Any) -> requests.Response:
        for attempt in range(self.max_retries + 1):
            self.limiter.acquire()
            try:
                with self._count_lock:
                    self.calls += 1
                r = self._session().request(method, self.conn.base_url + path, timeout=self.conn.timeout_s, **kw)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.limiter.release()
                if write:
                    raise _InDoubt(type(exc).__name__) from None
                time.sleep(min(0.05 * 2**attempt, 2.0))
                continue
            self.limiter.release()
            self.limiter.update(r.headers, r.status_code)
            if r.status_code == 429:
                with self._count_lock:
                    self.rate_limited += 1
                continue  # the limiter now waits for X-RateLimit-Reset
            if r.status_code == 503 or (r.status_code >= 500 and not write):
                time.sleep(min(0.05 * 2**attempt, 2.0))
                continue
            if r.status_code >= 500:
                raise _InDoubt(f"HTTP {r.status_code}")
            if r.status_code == 401:
                raise FatalAPIError(
                    "Intercom refused the access token (401)",
                    status=401,
                    code="unauthorized",
                    system="intercom",
                    hint="check the token in the environment variable",
                )
            return r
        raise RetriableAPIError(
            f"Intercom kept failing on {method} {path}",
            system="intercom",
            hint="run apply again later; it resumes where it stopped",
        )

    # ------------------------------------------------------------ reads

    def current(self, obj: str, ops: list[Operation], since: Any) -> dict[str, dict[str, Any] | None]:
        keys = [o.key for o in ops if o.key]
        out: dict[str, dict[str, Any] | None] = {}
        if obj == "company":
            for k in keys:
                r = self._call("GET", f"/companies/{k}")
                out[k] = (
                    None if r.status_code == 404 else {**_flatten(r.json()), "_version": r.json().get("updated_at")}
                )
                if out[k] is not None:
                    self.seen[k] = out[k]
                if out[k] is not None and since is not None and (out[k] or {}).get("_version", 0) <= float(since):
                    del out[k]
            return out
        for i in range(0, len(keys), SEARCH_CHUNK):
            chunk = keys[i : i + SEARCH_CHUNK]
            # Every record of the chunk is read (one call either way), not only those changed since the snapshot:
            # the full images let each write's answer be compared with them (see _concurrent).
            query = {"field": "id", "operator": "IN", "value": chunk}
            found = {c["id"]: c for c in self._search(query)}
            for k in chunk:
                c = found.get(k)
                if c is not None:
                    rec = {**_flatten(c), "_version": c.get("updated_at")}
                    self.seen[k] = rec
                    if since is None or float(c.get("updated_at") or 0) > float(since):
                        out[k] = rec
                elif since is None:
                    out[k] = None  # gone: deleted or merged away
        return out

    def _search(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"query": query, "pagination": {"per_page": 150}}
        rows: list[dict[str, Any]] = []
        while True:
            r = self._call("POST", "/contacts/search", json=body)
            if r.status_code >= 400:
                raise FatalAPIError(
                    f"Intercom search failed (HTTP {r.status_code})", status=r.status_code, system="intercom"
                )
            page = r.json()
            rows.extend(page.get("data", []))
            nxt = ((page.get("pages") or {}).get("next") or {}).get("starting_after")
            if not nxt:
                return rows
            body["pagination"] = {"per_page": 150, "starting_after": nxt}

    def find_external(self, obj: str, field: str, values: list[str]) -> dict[str, tuple[str, Any]]:
        return {}  # the planner creates nothing in Intercom

    def finish_job(self, obj: str, job_id: str, batch: list[tuple[int, Operation]]) -> list[WriteResult] | None:
        return None

    def chunk_size(self, kind: str, n: int) -> int:
        # One search's worth per batch: each record is re-read by one call immediately before its batch's writes,
        # which keeps the window in which someone else's write could be overwritten as short as the API allows
        # (Intercom has no conditional update; a GET per record would halve the write rate).
        return SEARCH_CHUNK

    # ------------------------------------------------------------ writes

    def write(self, obj: str, op: str, batch: list[tuple[int, Operation]], on_job: JobHook) -> list[WriteResult]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(lambda item: self._one(obj, op, *item), batch))

    def _concurrent(self, o: Operation, r: requests.Response) -> list[str]:
        seen = self.seen.pop(o.key or "", None)
        if seen is None:
            return []
        try:
            now = _flatten(r.json())
        except ValueError:
            return []
        return concurrent_fields(seen, now, set(o.after))

    def _one(self, obj: str, op: str, seq: int, o: Operation) -> WriteResult:
        try:
            if op == "merge":
                r = self._call("POST", "/contacts/merge", write=True, json={"from": o.key, "into": o.after["into"]})
                done = "merged"
            elif op == "update":
                path = f"/companies/{o.key}" if obj == "company" else f"/contacts/{o.key}"
                r = self._call("PUT", path, write=True, json=_body(o.after))
                done = "updated"
            else:
                return WriteResult(seq, "failed", "UNSUPPORTED", f"{op} is not an Intercom write syncaudit makes")
        except _InDoubt as exc:
            return WriteResult(seq, "in_doubt", detail=str(exc))
        if r.status_code < 300:
            if op == "update":
                changed = self._concurrent(o, r)
                if changed:
                    detail = f"changed by someone else between the re-read and this write: {', '.join(changed)}"
                    return WriteResult(seq, done, "CONCURRENT_CHANGE", detail, version=_updated_at(r))
                return WriteResult(seq, done, version=_updated_at(r))
            return WriteResult(seq, done)
        try:
            err = (r.json().get("errors") or [{}])[0]
        except ValueError:
            err = {}
        return WriteResult(seq, "failed", err.get("code") or str(r.status_code), err.get("message"))


def _updated_at(r: requests.Response) -> Any:
    """The updated_at an update's answer reports (the record's version after our write), or None."""
    try:
        return r.json().get("updated_at")
    except (ValueError, AttributeError):
        return None
