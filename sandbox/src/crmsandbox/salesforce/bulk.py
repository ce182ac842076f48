"""Bulk API 2.0 jobs: query jobs (CSV pages with locators) and ingest jobs (insert, update, upsert, delete).

Jobs live in the ``_jobs`` table so they survive a restart. Ingest runs synchronously when the client marks
the upload complete; per-row failures land in failedResults and do not fail the job, as in Salesforce.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import sys

from . import exceptions as exc
from .soql import FieldsMacro, parse
from .store import q

csv.field_size_limit(sys.maxsize)
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
TERMINAL = {"JobComplete", "Failed", "Aborted"}


def encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(text: str) -> int:
    try:
        value = int(base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise exc.InvalidQueryLocator(f"invalid locator: {text}") from None
    if value < 0:
        raise exc.InvalidQueryLocator(f"invalid locator: {text}")
    return value


class BulkJobs:
    """Bulk API 2.0 job state and processing."""

    def __init__(self, backend, engine) -> None:
        from crmsandbox.costmodel import CostModel

        self.backend = backend
        self.engine = engine
        self._cursors: dict[str, object] = {}
        self.cost = CostModel()  # the sandbox sets it: Bulk jobs take time in proportion to their rows

    # -- storage
    def _save(self, info: dict, data: bytes | None = None, results: dict | None = None, *, new: bool = False) -> None:
        with self.backend.store.write() as c:
            if new:
                c.execute("INSERT INTO _jobs (id, info) VALUES (?, ?)", (info["id"], json.dumps(info)))
            c.execute("UPDATE _jobs SET info = ? WHERE id = ?", (json.dumps(info), info["id"]))
            if data is not None:
                c.execute("UPDATE _jobs SET data = ? WHERE id = ?", (data, info["id"]))
            if results is not None:
                c.execute("UPDATE _jobs SET results = ? WHERE id = ?", (json.dumps(results), info["id"]))

    def info(self, job_id: str, job_type: str) -> dict:
        row = self.backend.store.conn().execute("SELECT info FROM _jobs WHERE id = ?", (job_id,)).fetchone()
        info = json.loads(row[0]) if row else None
        if info is None or info["jobType"] != job_type:
            raise exc.NotFound(f"Job with id {job_id} does not exist")
        return self._as_of_now(info)

    def _as_of_now(self, info: dict) -> dict:
        """A completed job is InProgress until the cost model's processing time has passed (``_ready_at``)."""
        ready = info.get("_ready_at")
        if ready is None or info["state"] != "JobComplete":
            return info
        now = self.backend.clock()
        if now >= ready:
            return info
        started = info.get("_started_at", now)
        done = max(0.0, min(1.0, (now - started) / max(ready - started, 1e-9)))
        return dict(info, state="InProgress", numberRecordsProcessed=int(info["numberRecordsProcessed"] * done))

    def _processing(self, info: dict, rows: int, kind: str) -> None:
        seconds = self.cost.bulk_s(rows, kind)
        if seconds > 0:
            now = self.backend.clock()
            info["_started_at"], info["_ready_at"] = now, now + seconds

    @staticmethod
    def public(info: dict) -> dict:
        return {k: v for k, v in info.items() if not k.startswith("_")}

    def list(self, job_type: str) -> dict:
        rows = self.backend.store.conn().execute("SELECT info FROM _jobs ORDER BY rowid").fetchall()
        jobs = [self.public(self._as_of_now(json.loads(r[0]))) for r in rows]
        return {"done": True, "records": [j for j in jobs if j["jobType"] == job_type], "nextRecordsUrl": None}

    def _new_info(self, body: dict, job_type: str, version: str) -> dict:
        from .ids import make_id

        if not isinstance(body, dict):
            raise exc.JsonParserError("the job definition must be a JSON object")
        delim = body.get("columnDelimiter", "COMMA")
        ending = body.get("lineEnding", "LF")
        if delim not in DELIMITERS:
            raise exc.InvalidJob(f"Invalid column delimiter {delim!r}; use one of {', '.join(DELIMITERS)}")
        if ending not in LINE_ENDINGS:
            raise exc.InvalidJob(f"Invalid line ending {ending!r}; use LF or CRLF")
        if body.get("contentType", "CSV") != "CSV":
            raise exc.InvalidJob("contentType must be CSV")
        with self.backend.store.write() as c:
            seq = self.backend.store.next_seq(c, "job")
        now = self.backend.now_text()[:23] + "+0000"
        path = "query" if job_type == "V2Query" else "ingest"
        job_id = make_id("750", seq)
        return {
            "id": job_id,
            "operation": body.get("operation"),
            "object": None,
            "createdById": self.backend.admin_id,
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "jobType": job_type,
            "lineEnding": ending,
            "columnDelimiter": delim,
            "contentUrl": f"services/data/v{version}/jobs/{path}/{job_id}/batches",
            "numberRecordsProcessed": 0,
            "numberRecordsFailed": 0,
            "retries": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }

    def _touch(self, info: dict) -> None:
        info["systemModstamp"] = self.backend.now_text()[:23] + "+0000"

    # -- query jobs
    def create_query(self, body: dict, version: str) -> dict:
        info = self._new_info(body, "V2Query", version)
        op = body.get("operation")
        if op not in ("query", "queryAll"):
            raise exc.InvalidJob(f"Invalid operation {op!r} for a query job; use query or queryAll")
        text = body.get("query")
        ast = parse(text)
        if any(isinstance(i, FieldsMacro) for i in ast.select):
            raise exc.InvalidJob("FIELDS() is not supported in Bulk API 2.0 queries; list the fields")
        cq = self.engine.compile(text, include_deleted=op == "queryAll")
        if cq.aggregate or cq.count_only:
            raise exc.InvalidJob("Aggregate queries are not supported in Bulk API 2.0")
        if any(c.child is not None for c in cq.columns):
            raise exc.InvalidJob("Parent-to-child subqueries are not supported in Bulk API 2.0 queries")
        info.update({"object": cq.sobject.name, "query": text, "state": "UploadComplete"})
        for k in ("contentUrl", "numberRecordsFailed", "apexProcessingTime"):
            info.pop(k, None)
        cur = self.engine.open(cq, "csv", 0)
        self._cursors[info["id"]] = cur
        info["numberRecordsProcessed"] = cur.total
        # The query is answered from the live table as it is paged; the job is complete at once, or after the
        # cost model's processing time (InProgress until then).
        stored = dict(info, state="JobComplete")
        self._processing(stored, cur.total, "query")
        self._save(stored, new=True)
        return self.public(info)

    def query_results(self, job_id: str, locator: str | None, max_records: int | None) -> tuple[int, str, object, dict]:
        """(rows in this page, next locator or "null", CSV chunk iterator, job info)."""
        info = self.info(job_id, "V2Query")
        if info["state"] != "JobComplete":
            raise exc.InvalidJobState(f"Job {job_id} is in state {info['state']}; results are not available")
        cur = self._cursors.get(job_id)
        if cur is None or not self.engine.alive(cur):  # after a restart or an idle expiry: reopen
            cq = self.engine.compile(info["query"], include_deleted=info["operation"] == "queryAll")
            cur = self._cursors[job_id] = self.engine.open(cq, "csv", 0)
        offset = decode_locator(locator) if locator else 0
        n = max_records if max_records and max_records > 0 else 50_000
        count = max(0, min(n, cur.total - offset))
        nxt = encode_locator(offset + count) if offset + count < cur.total else "null"
        chunks = self.engine.csv_chunks(
            cur, offset, count, DELIMITERS[info["columnDelimiter"]], LINE_ENDINGS[info["lineEnding"]]
        )
        return count, nxt, chunks, info

    # -- ingest jobs
    def create_ingest(self, body: dict, version: str) -> dict:
        info = self._new_info(body, "V2Ingest", version)
        op = body.get("operation")
        if op not in OPERATIONS:
            raise exc.InvalidJob(f"Invalid operation {op!r}; use one of {', '.join(sorted(OPERATIONS))}")
        o = self.backend.sobject(str(body.get("object") or ""))
        info["object"] = o.name
        if op == "upsert":
            ext = body.get("externalIdFieldName")
            f = o.get(str(ext or ""))
            if f is None or not (f.external_id or f.type == "id"):
                raise exc.InvalidJob(f"External ID field {ext!r} is not an external id field of {o.name}")
            info["externalIdFieldName"] = f.name
        self._save(info, new=True)
        return self.public(info)

    def upload(self, job_id: str, data: bytes) -> None:
        info = self.info(job_id, "V2Ingest")
        if info["state"] != "Open":
            raise exc.InvalidJobState(f"Job {job_id} is not open for data upload (state {info['state']})")
        row = self.backend.store.conn().execute("SELECT data FROM _jobs WHERE id = ?", (job_id,)).fetchone()
        if row and row[0]:
            raise exc.InvalidJobState("Found multiple uploads for the job; upload the data once")
        if len(data) > 100 * 1024 * 1024:
            raise exc.InvalidBatch("the CSV exceeds 100 MB; split it over several jobs")
        self._save(info, data=data)

    def set_state(self, job_id: str, job_type: str, body: dict, fault=None) -> dict:
        info = self.info(job_id, job_type)
        state = body.get("state") if isinstance(body, dict) else None
        if state == "Aborted":
            if info["state"] in TERMINAL:
                raise exc.InvalidJobState(f"Job {job_id} is already {info['state']}")
            info["state"] = "Aborted"
        elif state == "UploadComplete" and job_type == "V2Ingest":
            if info["state"] != "Open":
                raise exc.InvalidJobState(f"Job {job_id} is not open (state {info['state']})")
            info["state"] = "UploadComplete"
            self._touch(info)
            self._save(info)
            result = self.public(info)
            self._process(info, fault or (lambda index: None))
            return result
        else:
            raise exc.InvalidJobState(f"Cannot change the state of job {job_id} to {state!r}")
        self._touch(info)
        self._save(info)
        return self.public(info)

    def delete(self, job_id: str, job_type: str) -> None:
        info = self.info(job_id, job_type)
        if info["state"] in ("Open", "UploadComplete", "InProgress") and job_type == "V2Ingest":
            raise exc.InvalidJobState(f"Job {job_id} is {info['state']}; abort it before deleting it")
        self._cursors.pop(job_id, None)
        with self.backend.store.write() as c:
            c.execute("DELETE FROM _jobs WHERE id = ?", (job_id,))

    def _process(self, info: dict, fault) -> None:
        row = self.backend.store.conn().execute("SELECT data FROM _jobs WHERE id = ?", (info["id"],)).fetchone()
        data = row[0] if row and row[0] else b""
        try:
            text = data.decode("utf-8-sig")
            reader = csv.reader(
                io.StringIO(text, newline=""), delimiter=DELIMITERS[info["columnDelimiter"]], strict=True
            )
            header = next(reader, None)
            rows = list(reader)
        except (UnicodeDecodeError, csv.Error) as e:
            info.update(state="Failed", errorMessage=f"InvalidBatch : Failed to parse CSV: {e}")
            self._save(info)
            return
        if not header:
            info.update(state="Failed", errorMessage="InvalidBatch : The CSV has no header row")
            self._save(info)
            return
        ok, failed = [], []
        o = self.backend.sobject(info["object"])
        op = info["operation"]
        with self.backend.store.write() as c:
            for n, values in enumerate(rows):
                c.execute("SAVEPOINT r")
                try:
                    injected = fault(n)
                    if injected is not None:
                        raise injected
                    if len(values) != len(header):
                        raise exc.InvalidBatch(f"row {n + 1} has {len(values)} values; the header has {len(header)}")
                    rid, created = self._apply_row(c, o, op, header, values, info.get("externalIdFieldName"))
                    c.execute("RELEASE r")
                    ok.append([rid, "true" if created else "false", *values])
                except exc.SalesforceError as e:
                    c.execute("ROLLBACK TO r")
                    c.execute("RELEASE r")
                    fields = ":".join(e.fields)
                    failed.append(["", f"{e.code}:{e.message}:{fields} --", *values])
        info.update(
            state="JobComplete",
            numberRecordsProcessed=len(rows),
            numberRecordsFailed=len(failed),
        )
        self._processing(info, len(rows), "ingest")
        self._touch(info)
        self._save(info, results={"header": header, "ok": ok, "failed": failed})

    def _apply_row(self, c, o, op: str, header: list[str], values: list[str], ext: str | None) -> tuple[str, bool]:
        record: dict = {}
        for col, raw in zip(header, values, strict=True):
            if raw == "":
                continue  # empty leaves the field unchanged
            val = None if raw == "#N/A" else raw
            if "." in col:  # lookup by a parent's external id: Account.AccountNumber
                rel, fname = col.split(".", 1)
                ref = o.relationship(rel)
                if ref is None:
                    raise exc.InvalidField(f"No such relationship '{rel}' on {o.name}", [col])
                parent = self.backend.sobject(ref.reference_to[0])
                _, _, ids = self.backend.find_by_external(parent.name, fname, val or "")
                if len(ids) != 1:
                    raise exc.InvalidCrossReferenceKey(
                        f"Foreign key external ID: {val} not found for field {fname}", [col]
                    )
                record[ref.name] = ids[0]
            else:
                record[col] = val
        if op in ("delete", "hardDelete"):
            if [h.lower() for h in header] != ["id"]:
                raise exc.InvalidBatch("The 'delete' batch must contain only 'Id'")
            return self.backend.delete(c, o.name, record.get("Id") or "", hard=op == "hardDelete"), False
        if op == "insert":
            return self.backend.insert(c, o.name, record), True
        if op == "update":
            rid = next((v for k, v in record.items() if k.lower() == "id"), None)
            if not rid:
                raise exc.MalformedId("Id not specified in an update call", ["Id"])
            return self.backend.update(c, o.name, rid, record), False
        key = next((v for k, v in record.items() if k.lower() == (ext or "").lower()), None)
        if not key and (ext or "").lower() == "id":
            # Upsert matching on Id: a row with a blank Id is inserted (an Id that is not found fails the row).
            return self.backend.insert(c, o.name, {k: v for k, v in record.items() if k.lower() != "id"}), True
        if not key:
            raise exc.RequiredFieldMissing(f"Required fields are missing: [{ext}]", [ext or ""])
        return self.backend.upsert(c, o.name, ext or "", key, record)

    def ingest_results(self, job_id: str, kind: str) -> bytes:
        info = self.info(job_id, "V2Ingest")
        if info["state"] == "InProgress":
            raise exc.InvalidJobState(f"Job {job_id} is InProgress; its results are available when it is JobComplete")
        row = self.backend.store.conn().execute("SELECT results, data FROM _jobs WHERE id = ?", (job_id,)).fetchone()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
        res = json.loads(row[0]) if row and row[0] else None
        if kind == "unprocessedrecords":
            if res is None and row and row[1] and info["state"] in ("Aborted", "Failed"):
                buf.write(row[1].decode("utf-8-sig", "replace"))
            elif res is not None:
                w.writerow(res["header"])
            return buf.getvalue().encode()
        if res is None:
            w.writerow(["sf__Id", "sf__Created" if kind == "successfulresults" else "sf__Error"])
            return buf.getvalue().encode()
        if kind == "successfulresults":
            w.writerow(["sf__Id", "sf__Created", *res["header"]])
            w.writerows(res["ok"])
        else:
            w.writerow(["sf__Id", "sf__Error", *res["header"]])
            w.writerows(res["failed"])
        return buf.getvalue().encode()


__all__ = ["BulkJobs", "decode_locator", "encode_locator", "q"]
