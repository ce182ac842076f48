"""Intercom write path for `syncaudit apply`: contact/company updates and lead merges, paced by rate headers.

Every call goes through the workspace's connector (:meth:`IntercomConnector.send`): its rate limiter spends what
the window allows and then waits for the reset (a 429 carries no Retry-After) — no 429 in normal running. A 429
or 503 means "not processed": retried. A lost answer or a 500/502 on a write is *in doubt*: the apply engine
reads the contact before deciding anything.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from syncaudit.connectors.intercom.connector import InDoubt as _InDoubt
from syncaudit.connectors.intercom.connector import IntercomConnector
from syncaudit.errors import FatalAPIError
from syncaudit.writes import JobHook, WriteOperation, WriteResult, same_value

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
    """Writes through the workspace's one :class:`IntercomConnector` (its token, version, rate limiter)."""

    system = "intercom"

    def __init__(self, connector: IntercomConnector, *, workers: int = 8) -> None:
        self.ic = connector
        self.workers = workers
        self.seen: dict[str, dict[str, Any]] = {}  # key -> the record as last re-read before its write
        self._calls0 = connector.api_calls()
        self._limited0 = connector.rate_limited

    @property
    def calls(self) -> int:
        """API calls made since this writer was built."""
        return self.ic.api_calls() - self._calls0

    @property
    def rate_limited(self) -> int:
        """429 answers seen since this writer was built."""
        return self.ic.rate_limited - self._limited0

    def _call(self, method: str, path: str, *, write: bool = False, **kw: Any) -> requests.Response:
        return self.ic.send(method, path, write=write, **kw)

    # ------------------------------------------------------------ reads

    def current(self, obj: str, ops: list[WriteOperation], since: Any) -> dict[str, dict[str, Any] | None]:
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

    def finish_job(self, obj: str, job_id: str, batch: list[tuple[int, WriteOperation]]) -> list[WriteResult] | None:
        return None

    def chunk_size(self, kind: str, n: int) -> int:
        # One search's worth per batch: each record is re-read by one call immediately before its batch's writes,
        # which keeps the window in which someone else's write could be overwritten as short as the API allows
        # (Intercom has no conditional update; a GET per record would halve the write rate).
        return SEARCH_CHUNK

    # ------------------------------------------------------------ writes

    def write(self, obj: str, op: str, batch: list[tuple[int, WriteOperation]], on_job: JobHook) -> list[WriteResult]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(lambda item: self._one(obj, op, *item), batch))

    def _concurrent(self, o: WriteOperation, r: requests.Response) -> list[str]:
        seen = self.seen.pop(o.key or "", None)
        if seen is None:
            return []
        try:
            now = _flatten(r.json())
        except ValueError:
            return []
        return concurrent_fields(seen, now, set(o.after))

    def _one(self, obj: str, op: str, seq: int, o: WriteOperation) -> WriteResult:
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
