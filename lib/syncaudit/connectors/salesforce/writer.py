"""Salesforce write path for `syncaudit apply`: sObject Collections for small batches, Bulk API 2.0 for large.

Every write is keyed: updates by Id (Collections PATCH, or a Bulk API 2.0 ``upsert`` job with
externalIdFieldName=Id, where an Id that is not found fails its row and never creates), creates by an External
ID field (Collections upsert ``PATCH /composite/sobjects/{object}/{field}``, or a Bulk ``upsert`` job on that
field), so a create sent twice updates the record the first one made instead of duplicating it.

Every call goes through the org's connector (:meth:`SalesforceConnector.send`), which keeps the rules that make
writes safe:
- the ``Sforce-Limit-Info`` header is read on every answer; no call is made once the configured share of
  the daily allocation would be passed (:class:`QuotaExhaustedError`: the run stops and resumes later);
- 401 INVALID_SESSION_ID and 503 come before anything is written: re-authenticate or back off, then retry;
- a write whose answer is lost (connection dropped, 500/502) is *in doubt*: it is never blindly re-sent; the
  apply engine reads the records to learn whether it landed.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from syncaudit.connectors.salesforce.connector import InDoubt as _InDoubt
from syncaudit.connectors.salesforce.connector import SalesforceConnector
from syncaudit.connectors.salesforce.duplicates import error_detail
from syncaudit.errors import FatalAPIError, QuotaExhaustedError
from syncaudit.writes import JobHook, WriteOperation, WriteResult, version_key

COLLECTION_MAX = 200


def soql_quote(v: str) -> str:
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"


def soql_datetime(v: Any) -> str:
    k = version_key(v)
    if k is None:
        raise ValueError(f"not a datetime: {v!r}")
    return datetime.fromtimestamp(int(k), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceWriter:
    """Writes through the org's one :class:`SalesforceConnector` (its session, retries, guard and version)."""

    system = "salesforce"

    def __init__(
        self,
        connector: SalesforceConnector,
        *,
        bulk_threshold: int = 200,
        poll_s: float = 0.2,
        duplicate_header: dict[str, str] | None = None,
    ) -> None:
        self.sf = connector
        self.duplicate_header = duplicate_header or {}  # Sforce-Duplicate-Rule-Header, where configured
        self.bulk_threshold = bulk_threshold
        self.poll_s = poll_s
        self._calls0 = connector.api_calls()
        self.v = f"/services/data/v{connector.api_version}"

    @property
    def calls(self) -> int:
        """API calls made since this writer was built."""
        return self.sf.api_calls() - self._calls0

    def _call(self, method: str, path: str, *, write: bool = False, **kw: Any) -> requests.Response:
        return self.sf.send(method, path, write=write, **kw)

    # ------------------------------------------------------------ reads

    def query(self, soql: str) -> list[dict[str, Any]]:
        return [row for page in self.query_pages(soql) for row in page]

    def query_pages(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """The answer to ``soql`` a page at a time (as the API returns it), never gathered whole."""
        r = self._call("GET", f"{self.v}/query", params={"q": soql})
        body = r.json()
        yield list(body.get("records", []))
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            body = self._call("GET", body["nextRecordsUrl"]).json()
            yield list(body.get("records", []))

    def changed_pages(self, obj: str, fields: list[str], since: Any) -> Iterator[list[dict[str, Any]]]:
        """Every ``obj`` record changed after ``since`` (Id, SystemModstamp, ``fields`` and ``_version``), a page
        at a time: what :meth:`current` reads for a large set of updates, for a caller that spools it (rollback
        planning) instead of holding it."""
        select = ", ".join(["Id", "SystemModstamp", *sorted(set(fields) - {"Id", "SystemModstamp"})])
        for page in self.query_pages(f"SELECT {select} FROM {obj} WHERE SystemModstamp > {soql_datetime(since)}"):
            yield [{**row, "_version": row.get("SystemModstamp")} for row in page]

    def current(self, obj: str, ops: list[WriteOperation], since: Any) -> dict[str, dict[str, Any] | None]:
        fields = sorted({f for o in ops for f in (*o.after, *o.before)} - {"Id", "SystemModstamp"})
        select = ", ".join(["Id", "SystemModstamp", *fields])
        keys = [o.key for o in ops if o.key]
        where_since = f"SystemModstamp > {soql_datetime(since)}" if since is not None else None
        out: dict[str, dict[str, Any] | None] = {}
        if where_since and len(keys) > COLLECTION_MAX:
            # One query for everything changed since the snapshot: cheap when little changed (the usual case).
            rows = self.query(f"SELECT {select} FROM {obj} WHERE {where_since}")
            wanted = set(keys)
            for row in rows:
                if row["Id"] in wanted:
                    out[row["Id"]] = {**row, "_version": row.get("SystemModstamp")}
            return out
        for i in range(0, len(keys), COLLECTION_MAX):
            chunk = keys[i : i + COLLECTION_MAX]
            cond = f"Id IN ({', '.join(soql_quote(k) for k in chunk)})"
            rows = self.query(f"SELECT {select} FROM {obj} WHERE {cond}")
            seen = {row["Id"]: row for row in rows}
            for k in chunk:
                row = seen.get(k)
                if row is None:
                    out[k] = None  # deleted (or never existed)
                elif where_since is None or version_key(row.get("SystemModstamp")) > version_key(since):
                    out[k] = {**row, "_version": row.get("SystemModstamp")}
        return out

    def find_external(self, obj: str, field: str, values: list[str]) -> dict[str, tuple[str, Any]]:
        """value -> (Id, CreatedDate) of the records whose External ID ``field`` holds one of ``values``."""
        out: dict[str, tuple[str, Any]] = {}
        for i in range(0, len(values), COLLECTION_MAX):
            chunk = values[i : i + COLLECTION_MAX]
            cond = f"{field} IN ({', '.join(soql_quote(v) for v in chunk)})"
            for row in self.query(f"SELECT Id, CreatedDate, {field} FROM {obj} WHERE {cond}"):
                if row.get(field) is not None:
                    out[str(row[field])] = (row["Id"], row.get("CreatedDate"))
        return out

    # ------------------------------------------------------------ writes

    def chunk_size(self, kind: str, n: int) -> int:
        """Large groups go as one Bulk API 2.0 job; the rest in Collections calls of 200."""
        if kind in ("update", "upsert") and n > self.bulk_threshold:
            return 150_000
        return COLLECTION_MAX

    def write(self, obj: str, op: str, batch: list[tuple[int, WriteOperation]], on_job: JobHook) -> list[WriteResult]:
        # Never send an update without its Id: an upsert by Id with a blank Id *creates* a record.
        unkeyed = [WriteResult(s, "failed", "MISSING_KEY", "no record id") for s, o in batch if not match_key(o)[1]]
        batch = [(s, o) for s, o in batch if match_key(o)[1]]
        if not batch:
            return unkeyed
        if op in ("update", "upsert") and len(batch) > self.bulk_threshold:
            return unkeyed + self._bulk_upsert(obj, batch, on_job)
        out: list[WriteResult] = unkeyed
        for i in range(0, len(batch), COLLECTION_MAX):
            out.extend(self._collection(obj, op, batch[i : i + COLLECTION_MAX]))
        return out

    def _collection(self, obj: str, op: str, batch: list[tuple[int, WriteOperation]]) -> list[WriteResult]:
        path = f"{self.v}/composite/sobjects"
        try:
            if op == "delete":
                ids = ",".join(o.key or "" for _, o in batch)
                r = self._call("DELETE", path, write=True, params={"ids": ids, "allOrNone": "false"})
            elif op == "update":
                records = [{"attributes": {"type": obj}, **o.after, "Id": o.key} for _, o in batch]
                body = {"allOrNone": False, "records": records}
                r = self._call("PATCH", path, write=True, json=body, headers=dict(self.duplicate_header))
            elif op == "upsert":
                field = match_key(batch[0][1])[0]
                records = [{"attributes": {"type": obj}, **o.after, field: o.key} for _, o in batch]
                r = self._call(
                    "PATCH",
                    f"{path}/{obj}/{field}",
                    write=True,
                    json={"allOrNone": False, "records": records},
                    headers=dict(self.duplicate_header),
                )
            else:
                return [WriteResult(s, "failed", "UNSUPPORTED", f"{op} is not a Salesforce write") for s, _ in batch]
        except _InDoubt as exc:
            return [WriteResult(s, "in_doubt", detail=str(exc)) for s, _ in batch]
        except QuotaExhaustedError:
            raise  # stop the run; these operations stay in doubt and are settled on resume
        except FatalAPIError as exc:
            return [WriteResult(s, "failed", exc.code, str(exc)) for s, _ in batch]
        out = []
        for (seq, _), res in zip(batch, r.json(), strict=False):
            if res.get("success"):
                if op == "upsert":
                    done = "created" if res.get("created") else "updated"
                    out.append(WriteResult(seq, done, new_id=res.get("id")))
                else:
                    out.append(WriteResult(seq, {"update": "updated", "delete": "deleted"}[op]))
            else:
                err = (res.get("errors") or [{}])[0]
                code = err.get("statusCode") or err.get("errorCode")
                out.append(WriteResult(seq, "failed", code, error_detail(err)))
        return out

    # ------------------------------------------------------------ Bulk API 2.0

    def _bulk_upsert(self, obj: str, batch: list[tuple[int, WriteOperation]], on_job: JobHook) -> list[WriteResult]:
        """One Bulk API 2.0 ``upsert`` job: updates match on Id (a missing Id fails the row, never creates),
        creates on their External ID field (a re-sent row updates the record it made, never duplicates)."""
        field = match_key(batch[0][1])[0]
        fields = sorted({f for _, o in batch for f in o.after} - {field})
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([field, *fields])
        # Empty means "leave unchanged" in Bulk 2.0; #N/A sets null. A row leaves the fields other rows of the
        # batch write empty: only a field this operation writes as None is set to null.
        w.writerows([o.key, *_bulk_cells(o.after, fields)] for _, o in batch)
        body = {
            "object": obj,
            "operation": "upsert",
            "externalIdFieldName": field,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        try:
            job = self._call("POST", f"{self.v}/jobs/ingest", write=True, json=body).json()
        except _InDoubt:
            # An ingest job that was created but never received data does nothing; simply not-sent.
            return [WriteResult(s, "retry", "JOB_NOT_CREATED") for s, _ in batch]
        job_id = job["id"]
        on_job(job_id, "created")
        try:
            self._call(
                "PUT",
                f"{self.v}/jobs/ingest/{job_id}/batches",
                write=True,
                data=buf.getvalue().encode(),
                headers={"Content-Type": "text/csv"},
            )
        except QuotaExhaustedError:
            raise
        except (_InDoubt, FatalAPIError):
            self._abort(job_id)
            on_job(job_id, "aborted")
            return [WriteResult(s, "retry", "UPLOAD_FAILED") for s, _ in batch]
        on_job(job_id, "uploaded")
        try:
            # Some servers (the sandbox) process the job inside this call: allow it time before calling it lost.
            self._call(
                "PATCH",
                f"{self.v}/jobs/ingest/{job_id}",
                write=True,
                json={"state": "UploadComplete"},
                timeout=600,
            )
        except _InDoubt:
            pass  # the poll below tells whether the close landed
        results = self.finish_job(obj, job_id, batch)
        if results is None:
            return [WriteResult(s, "retry", "JOB_NOT_PROCESSED") for s, _ in batch]
        on_job(job_id, "done")
        return results

    def _abort(self, job_id: str) -> None:
        try:
            self._call("PATCH", f"{self.v}/jobs/ingest/{job_id}", json={"state": "Aborted"})
        except Exception:  # noqa: BLE001 - an open job that is never closed is not processed either
            pass

    def finish_job(self, obj: str, job_id: str, batch: list[tuple[int, WriteOperation]]) -> list[WriteResult] | None:
        closed = False
        polls = 0
        while True:
            info = self._call("GET", f"{self.v}/jobs/ingest/{job_id}").json()
            state = info.get("state")
            if state == "Open":
                if closed:  # we already asked once more; an open job with our data must not linger
                    self._abort(job_id)
                    return None
                try:
                    self._call("PATCH", f"{self.v}/jobs/ingest/{job_id}", write=True, json={"state": "UploadComplete"})
                except _InDoubt:
                    pass
                closed = True
                continue
            if state in ("Aborted", "Failed"):
                return None
            if state == "JobComplete":
                break
            # Poll less and less often: every poll is an API call against the allocation.
            time.sleep(min(self.poll_s * 2**polls, 10.0))
            polls += 1
        field = match_key(batch[0][1])[0] if batch else "Id"
        seq_by_key = {o.key: s for s, o in batch}
        out: dict[int, WriteResult] = {}
        ok = self._call("GET", f"{self.v}/jobs/ingest/{job_id}/successfulResults/", headers={"Accept": "text/csv"})
        for row in csv.DictReader(io.StringIO(ok.text)):
            seq = seq_by_key.get(row.get(field) or row.get("sf__Id"))
            if seq is not None:
                created = str(row.get("sf__Created", "")).lower() == "true"
                out[seq] = WriteResult(seq, "created" if created else "updated", new_id=row.get("sf__Id") or None)
        if int(info.get("numberRecordsFailed") or 0) > 0 or len(out) < len(batch):
            bad = self._call("GET", f"{self.v}/jobs/ingest/{job_id}/failedResults/", headers={"Accept": "text/csv"})
            for row in csv.DictReader(io.StringIO(bad.text)):
                seq = seq_by_key.get(row.get(field) or row.get("sf__Id"))
                if seq is not None:
                    code, _, msg = (row.get("sf__Error") or "UNKNOWN:").partition(":")
                    out[seq] = WriteResult(seq, "failed", code, msg.rstrip(" -"))
        # Rows in neither file were not processed: nothing written, safe to send again.
        return [out.get(s) or WriteResult(s, "retry", "UNPROCESSED") for s, _ in batch]


def match_key(op: WriteOperation) -> tuple[str, str | None]:
    """(match field, value) of a write: ``Id`` and the record id for updates and deletes; for an upsert, its
    External ID field (the one entry of ``op.match``) and ``op.key``."""
    if op.op == "upsert":
        return next(iter(op.match), ""), op.key
    return "Id", op.key


def _bulk_cells(after: dict[str, Any], fields: list[str]) -> list[Any]:
    """One Bulk API 2.0 CSV row's values: "" (unchanged) for a field this row does not write, #N/A for null."""
    return ["" if f not in after else "#N/A" if after[f] is None else after[f] for f in fields]
