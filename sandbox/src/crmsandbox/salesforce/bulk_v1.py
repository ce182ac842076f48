"""Bulk API 1.0 (``/services/async/<version>/job``): jobs and batches, CSV, XML and JSON, query and ingest.

The older Bulk API that tap-salesforce (BULK mode), Data Loader and many integrations speak. It is served
from the same org state as REST and Bulk 2.0: a query batch reads the live tables through the SOQL engine,
an ingest batch writes through the same backend (and its per-record faults) as every other write.

Differences from the real service (also in the sandbox README): a batch is processed when it is added, so
its first answer says ``Queued`` and later reads ``InProgress`` for as long as the cost model says its rows take
(no time under the ``none`` model), then ``Completed`` (or ``Failed``); a query batch has one
result; binary attachments and the ``/batch/{id}/request`` of a query batch beyond its SOQL are not kept.
With ``Sforce-Enable-PKChunking`` the original query batch is ``NotProcessed`` and its rows are split, in the
order of the table, over one batch per ``chunkSize`` records (100,000 unless given; at most 250,000), as Salesforce does.
"""

from __future__ import annotations

import csv
import io
import json
import re
from xml.etree import ElementTree as ET  # noqa: S405 - bounded local input from test clients
from xml.sax.saxutils import escape

from . import exceptions as exc
from .bulk import OPERATIONS
from .soql import FieldsMacro, parse

NS = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CONTENT_TYPES = {"CSV", "XML", "JSON"}
QUERY_OPS = {"query", "queryAll"}
MAX_CHUNK = 250_000
_CHUNK_RE = re.compile(r"chunkSize\s*=\s*(\d+)", re.IGNORECASE)


class AsyncError(Exception):
    """A Bulk API 1.0 error: ``<error><exceptionCode>…`` (or the JSON equivalent), HTTP 400 unless said."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _job_fields(info: dict) -> list[tuple[str, object]]:
    order = [
        "id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
        "externalIdFieldName", "concurrencyMode", "contentType", "numberBatchesQueued", "numberBatchesInProgress",
        "numberBatchesCompleted", "numberBatchesFailed", "numberBatchesTotal", "numberRecordsProcessed",
        "numberRetries", "apiVersion", "numberRecordsFailed", "totalProcessingTime", "apiActiveProcessingTime",
        "apexProcessingTime",
    ]  # fmt: skip
    return [(k, info[k]) for k in order if k in info and info[k] is not None]


def _batch_fields(info: dict) -> list[tuple[str, object]]:
    order = [
        "id", "jobId", "state", "stateMessage", "createdDate", "systemModstamp", "numberRecordsProcessed",
        "numberRecordsFailed", "totalProcessingTime", "apiActiveProcessingTime", "apexProcessingTime",
    ]  # fmt: skip
    return [(k, info[k]) for k in order if k in info and info[k] is not None]


def _xml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return escape(str(v))


def render(kind: str, payload: object, as_json: bool) -> tuple[bytes, str]:
    """(body, content type) of a jobInfo, batchInfo, batchInfoList, result-list or error."""
    if as_json:
        if kind == "jobInfo":
            body: object = dict(_job_fields(payload))  # type: ignore[arg-type]
        elif kind == "batchInfo":
            body = dict(_batch_fields(payload))  # type: ignore[arg-type]
        elif kind == "batchInfoList":
            body = {"batchInfo": [dict(_batch_fields(b)) for b in payload]}  # type: ignore[union-attr]
        else:
            body = payload
        return json.dumps(body).encode(), "application/json"
    if kind in ("jobInfo", "batchInfo"):
        fields = _job_fields(payload) if kind == "jobInfo" else _batch_fields(payload)  # type: ignore[arg-type]
        inner = "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in fields)
        text = f'<{kind} xmlns="{NS}">{inner}</{kind}>'
    elif kind == "batchInfoList":
        items = "".join(
            "<batchInfo>" + "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in _batch_fields(b)) + "</batchInfo>"
            for b in payload  # type: ignore[union-attr]
        )
        text = f'<batchInfoList xmlns="{NS}">{items}</batchInfoList>'
    elif kind == "result-list":
        items = "".join(f"<result>{escape(r)}</result>" for r in payload)  # type: ignore[union-attr]
        text = f'<result-list xmlns="{NS}">{items}</result-list>'
    else:  # error
        code, message = payload  # type: ignore[misc]
        text = (
            f'<error xmlns="{NS}"><exceptionCode>{escape(code)}</exceptionCode>'
            f"<exceptionMessage>{escape(message)}</exceptionMessage></error>"
        )
    return ('<?xml version="1.0" encoding="UTF-8"?>' + text).encode(), "application/xml"


def parse_job_request(body: bytes, as_json: bool) -> dict:
    """The fields of a jobInfo request (XML or JSON); InvalidJob when it is neither."""
    if as_json:
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            raise AsyncError("InvalidJob", "Unable to parse the job definition: it is not valid JSON") from None
        if not isinstance(doc, dict):
            raise AsyncError("InvalidJob", "the job definition must be a JSON object")
        return {k: v for k, v in doc.items() if isinstance(v, (str, int, float, bool))}
    try:
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as e:
        raise AsyncError("InvalidJob", f"Unable to parse the job definition as XML: {e}") from None
    if root.tag.rsplit("}", 1)[-1] != "jobInfo":
        raise AsyncError("InvalidJob", "the job definition must be a jobInfo element")
    return {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in root}


def _xml_records(data: bytes) -> tuple[list[str], list[list[str]]]:
    """An XML ingest batch (``<sObjects><sObject><Field>…``) as a CSV-like header and rows."""
    try:
        root = ET.fromstring(data)  # noqa: S314
    except ET.ParseError as e:
        raise AsyncError("InvalidBatch", f"Failed to parse XML: {e}") from None
    records = []
    for obj in root:
        rec = {}
        for el in obj:
            name = el.tag.rsplit("}", 1)[-1]
            nil = el.get(f"{{{XSI}}}nil") == "true"
            rec[name] = "#N/A" if nil else (el.text or "")
        records.append(rec)
    header: list[str] = []
    for rec in records:
        header += [k for k in rec if k not in header]
    return header, [[rec.get(h, "") for h in header] for rec in records]


def _json_records(data: bytes) -> tuple[list[str], list[list[str]]]:
    try:
        records = json.loads(data)
    except ValueError:
        raise AsyncError("InvalidBatch", "Failed to parse JSON: the batch is not a JSON array of records") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise AsyncError("InvalidBatch", "a JSON batch is an array of record objects")
    header: list[str] = []
    for rec in records:
        header += [k for k in rec if k not in header and k != "attributes"]

    def cell(v: object) -> str:
        if v is None:
            return "#N/A"
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return header, [[cell(rec[h]) if h in rec else "" for h in header] for rec in records]


class BulkV1:
    """Bulk API 1.0 jobs and batches, kept in the ``_jobs`` table (``jobType: Classic``) and ``_v1_batches``."""

    def __init__(self, bulk2) -> None:
        self.bulk2 = bulk2  # Bulk 2.0: row application, job ids, the backend and the SOQL engine
        self.backend = bulk2.backend
        self.engine = bulk2.engine
        with self.backend.store.write() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS _v1_batches (id TEXT PRIMARY KEY, job TEXT, seq INTEGER, info TEXT,"
                " data BLOB, results BLOB)"
            )

    # -- jobs
    def _now(self) -> str:
        return self.backend.now_text()[:19] + ".000Z"

    def create_job(self, fields: dict, version: str, pk_chunking: str | None) -> dict:
        from .ids import make_id

        op = fields.get("operation")
        if op not in OPERATIONS | QUERY_OPS:
            raise AsyncError("InvalidJob", f"Invalid operation: {op!r}")
        content = str(fields.get("contentType") or "XML").upper()
        if content not in CONTENT_TYPES:
            raise AsyncError("InvalidJob", f"Invalid content type: {fields.get('contentType')!r}; use CSV, XML or JSON")
        try:
            o = self.backend.sobject(str(fields.get("object") or ""))
        except exc.SalesforceError:
            raise AsyncError("InvalidJob", f"Unable to find object: {fields.get('object')}") from None
        info: dict = {"operation": op, "object": o.name, "contentType": content}
        if op == "upsert":
            ext = str(fields.get("externalIdFieldName") or "")
            f = o.get(ext)
            if f is None or not (f.external_id or f.type == "id"):
                raise AsyncError("InvalidJob", f"External ID field {ext!r} is not an external id field of {o.name}")
            info["externalIdFieldName"] = f.name
        chunk = None
        if pk_chunking is not None:
            if op not in QUERY_OPS:
                raise AsyncError("InvalidJob", "PK chunking is only supported for query jobs")
            m = _CHUNK_RE.search(pk_chunking)
            chunk = int(m.group(1)) if m else 100_000
            if not 0 < chunk <= MAX_CHUNK:
                raise AsyncError("InvalidJob", f"chunkSize must be between 1 and {MAX_CHUNK}")
        with self.backend.store.write() as c:
            seq = self.backend.store.next_seq(c, "job")
        now = self._now()
        info.update(
            id=make_id("750", seq),
            createdById=self.backend.admin_id,
            createdDate=now,
            systemModstamp=now,
            state="Open",
            concurrencyMode=fields.get("concurrencyMode") or "Parallel",
            apiVersion=float(version),
            jobType="Classic",
            numberRecordsProcessed=0,
            numberRecordsFailed=0,
            numberRetries=0,
            totalProcessingTime=0,
            apiActiveProcessingTime=0,
            apexProcessingTime=0,
            _chunk=chunk,
        )
        self.bulk2._save(info, new=True)
        return self.job(info["id"])

    def _info(self, job_id: str) -> dict:
        try:
            return self.bulk2.info(job_id, "Classic")
        except exc.SalesforceError:
            raise AsyncError("InvalidJob", f"Invalid job id: {job_id}") from None

    def job(self, job_id: str) -> dict:
        """The jobInfo with its batch and record counters."""
        info = self._info(job_id)
        batches = self.batches(job_id)
        counts = {
            s: sum(1 for b in batches if b["state"] == s) for s in ("Queued", "InProgress", "Completed", "Failed")
        }
        info.update(
            numberBatchesQueued=counts["Queued"],
            numberBatchesInProgress=counts["InProgress"],
            numberBatchesCompleted=counts["Completed"],
            numberBatchesFailed=counts["Failed"],
            numberBatchesTotal=len(batches),
            numberRecordsProcessed=sum(b.get("numberRecordsProcessed", 0) for b in batches),
            numberRecordsFailed=sum(b.get("numberRecordsFailed", 0) for b in batches),
        )
        return self.bulk2.public(info)

    def set_state(self, job_id: str, fields: dict) -> dict:
        info = self._info(job_id)
        state = fields.get("state")
        if state not in ("Closed", "Aborted"):
            raise AsyncError("InvalidJobState", f"Invalid state: {state!r}; a job can be Closed or Aborted")
        if info["state"] != "Open":
            raise AsyncError("InvalidJobState", f"Job {job_id} is {info['state']}, not Open")
        info["state"] = state
        info["systemModstamp"] = self._now()
        self.bulk2._save(info)
        return self.job(job_id)

    # -- batches
    def batches(self, job_id: str) -> list[dict]:
        rows = (
            self.backend.store.conn()
            .execute("SELECT info FROM _v1_batches WHERE job = ? ORDER BY seq", (job_id,))
            .fetchall()
        )
        return [self._as_of_now(json.loads(r[0])) for r in rows]

    def batch(self, job_id: str, batch_id: str) -> dict:
        row = (
            self.backend.store.conn()
            .execute("SELECT info FROM _v1_batches WHERE id = ? AND job = ?", (batch_id, job_id))
            .fetchone()
        )
        if row is None:
            raise AsyncError("InvalidBatch", f"Invalid batch id: {batch_id}")
        return self._as_of_now(json.loads(row[0]))

    def _as_of_now(self, info: dict) -> dict:
        """A completed batch is InProgress until the cost model's processing time has passed."""
        ready = info.pop("_ready_at", None)
        if ready is None or info["state"] != "Completed" or self.backend.clock() >= ready:
            return info
        return dict(info, state="InProgress")

    def _ready(self, info: dict, rows: int, kind: str) -> dict:
        seconds = self.bulk2.cost.bulk_s(rows, kind)
        return dict(info, _ready_at=self.backend.clock() + seconds) if seconds > 0 else info

    def _new_batch(self, c, job_id: str, state: str, data: bytes | None) -> dict:
        from .ids import make_id

        seq = self.backend.store.next_seq(c, "batch")
        now = self._now()
        info = {
            "id": make_id("751", seq),
            "jobId": job_id,
            "state": state,
            "createdDate": now,
            "systemModstamp": now,
            "numberRecordsProcessed": 0,
            "numberRecordsFailed": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }
        c.execute(
            "INSERT INTO _v1_batches (id, job, seq, info, data) VALUES (?, ?, ?, ?, ?)",
            (info["id"], job_id, seq, json.dumps(info), data),
        )
        return info

    @staticmethod
    def _update(c, info: dict, results: object = None) -> None:
        c.execute("UPDATE _v1_batches SET info = ? WHERE id = ?", (json.dumps(info), info["id"]))
        if results is not None:
            c.execute("UPDATE _v1_batches SET results = ? WHERE id = ?", (json.dumps(results), info["id"]))

    def add_batch(self, job_id: str, data: bytes, fault) -> dict:
        """Add and process a batch; answers its batchInfo as of its creation (Queued)."""
        info = self._info(job_id)
        if info["state"] != "Open":
            raise AsyncError(
                "InvalidJobState", f"Job {job_id} is {info['state']}; batches can only be added to Open jobs"
            )
        if len(data) > 10 * 1024 * 1024:
            raise AsyncError("InvalidBatch", "Batch size exceeds the 10 MB limit; split the data over more batches")
        if info["operation"] in QUERY_OPS:
            return self._query_batch(info, data)
        with self.backend.store.write() as c:
            batch = self._new_batch(c, job_id, "Queued", data)
        queued = dict(batch)
        self._ingest(info, batch, data, fault)
        return queued

    # -- query batches
    def _query_batch(self, info: dict, data: bytes) -> dict:
        text = data.decode("utf-8", "replace").strip()
        try:
            ast = parse(text)
            if any(isinstance(i, FieldsMacro) for i in ast.select):
                raise AsyncError("InvalidBatch", "FIELDS() is not supported in Bulk API queries")
            cq = self.engine.compile(text, include_deleted=info["operation"] == "queryAll")
        except exc.SalesforceError as e:
            with self.backend.store.write() as c:
                batch = self._new_batch(c, info["id"], "Queued", data)
                failed = dict(batch, state="Failed", stateMessage=f"{e.code} : {e.message}")
                self._update(c, failed)
            return batch
        if cq.sobject.name != info["object"]:
            raise AsyncError("InvalidBatch", f"The query is on {cq.sobject.name}, the job on {info['object']}")
        if cq.aggregate or cq.count_only or any(col.child is not None for col in cq.columns):
            raise AsyncError("InvalidBatch", "Aggregate queries and subqueries are not supported in Bulk API queries")
        cur = self.engine.open(cq, "csv", 0, register=False)
        chunk = info.get("_chunk")
        with self.backend.store.write() as c:
            batch = self._new_batch(c, info["id"], "Queued", data)
            if chunk:  # PK chunking: the original batch is not processed; one batch per chunk of rows
                self._update(c, dict(batch, state="NotProcessed"))
                for start in range(0, max(cur.total, 1), chunk):
                    n = max(0, min(chunk, cur.total - start))
                    part = self._new_batch(c, info["id"], "Completed", data)
                    part = self._ready(dict(part, numberRecordsProcessed=n), n, "query")
                    self._update(c, part, {"query": text, "offset": start, "n": n})
            else:
                done = dict(batch, state="Completed", numberRecordsProcessed=cur.total)
                done = self._ready(done, cur.total, "query")
                self._update(c, done, {"query": text, "offset": 0, "n": cur.total})
        return batch

    def result_ids(self, job_id: str, batch_id: str) -> list[str]:
        b = self.batch(job_id, batch_id)
        if b["state"] != "Completed":
            raise AsyncError("InvalidBatch", f"Batch {batch_id} is {b['state']}; it has no results")
        return [batch_id.replace("751", "752", 1)]

    def query_result(self, job_id: str, batch_id: str, result_id: str, version: str) -> tuple[bytes, str]:
        info = self._info(job_id)
        if result_id not in self.result_ids(job_id, batch_id):
            raise AsyncError("InvalidBatch", f"Invalid result id: {result_id}", 404)
        row = self.backend.store.conn().execute("SELECT results FROM _v1_batches WHERE id = ?", (batch_id,)).fetchone()
        spec = json.loads(row[0])
        cq = self.engine.compile(spec["query"], include_deleted=info["operation"] == "queryAll")
        cur = self.engine.open(cq, "json" if info["contentType"] != "CSV" else "csv", 0, register=False)
        if info["contentType"] == "CSV":
            body = b"".join(self.engine.csv_chunks(cur, spec["offset"], spec["n"], ",", "\n"))
            return body, "text/csv"
        records = self.engine.records(
            cq, self.engine.fetch(cur, spec["offset"], spec["n"]) if spec["n"] else [], version
        )
        if info["contentType"] == "JSON":
            return json.dumps(records).encode(), "application/json"
        return _query_xml(records), "application/xml"

    # -- ingest batches
    def _ingest(self, info: dict, batch: dict, data: bytes, fault) -> None:
        try:
            if info["contentType"] == "CSV":
                try:
                    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), strict=True))
                except (UnicodeDecodeError, csv.Error) as e:
                    raise AsyncError("InvalidBatch", f"Failed to parse CSV: {e}") from None
                header, rows = (rows[0], rows[1:]) if rows else ([], [])
            elif info["contentType"] == "JSON":
                header, rows = _json_records(data)
            else:
                header, rows = _xml_records(data)
            if not header:
                raise AsyncError("InvalidBatch", "The batch has no records (or no header row)")
        except AsyncError as e:
            with self.backend.store.write() as c:
                self._update(c, dict(batch, state="Failed", stateMessage=f"{e.code} : {e.message}"))
            return
        o = self.backend.sobject(info["object"])
        results = []
        with self.backend.store.write() as c:
            for n, values in enumerate(rows):
                c.execute("SAVEPOINT r")
                try:
                    injected = fault(n)
                    if injected is not None:
                        raise injected
                    if len(values) != len(header):
                        raise exc.InvalidBatch(f"row {n + 1} has {len(values)} values; the header has {len(header)}")
                    rid, created = self.bulk2._apply_row(
                        c, o, info["operation"], header, values, info.get("externalIdFieldName")
                    )
                    c.execute("RELEASE r")
                    results.append([rid, True, created, ""])
                except exc.SalesforceError as e:
                    c.execute("ROLLBACK TO r")
                    c.execute("RELEASE r")
                    results.append(["", False, False, f"{e.code}:{e.message}:{':'.join(e.fields)} --"])
            failed = sum(1 for r in results if not r[1])
            done = dict(batch, state="Completed", numberRecordsProcessed=len(rows), numberRecordsFailed=failed)
            done["systemModstamp"] = self._now()
            self._update(c, self._ready(done, len(rows), "ingest"), {"rows": results})

    def ingest_result(self, job_id: str, batch_id: str) -> tuple[bytes, str]:
        info = self._info(job_id)
        b = self.batch(job_id, batch_id)
        if b["state"] not in ("Completed",):
            raise AsyncError("InvalidBatch", f"Batch {batch_id} is {b['state']}; it has no results")
        row = self.backend.store.conn().execute("SELECT results FROM _v1_batches WHERE id = ?", (batch_id,)).fetchone()
        rows = json.loads(row[0])["rows"] if row and row[0] else []
        if info["contentType"] == "CSV":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
            w.writerow(["Id", "Success", "Created", "Error"])
            w.writerows([r[0], "true" if r[1] else "false", "true" if r[2] else "false", r[3]] for r in rows)
            return buf.getvalue().encode(), "text/csv"
        if info["contentType"] == "JSON":
            body = [
                {"id": r[0] or None, "success": r[1], "created": r[2], "errors": [r[3]] if r[3] else []} for r in rows
            ]
            return json.dumps(body).encode(), "application/json"
        items = "".join(
            "<result>"
            + (f"<id>{escape(r[0])}</id>" if r[0] else "")
            + f"<success>{'true' if r[1] else 'false'}</success><created>{'true' if r[2] else 'false'}</created>"
            + (f"<errors><message>{escape(r[3])}</message></errors>" if r[3] else "")
            + "</result>"
            for r in rows
        )
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><results xmlns="{NS}">{items}</results>'.encode(),
            "application/xml",
        )

    def request_data(self, job_id: str, batch_id: str) -> bytes:
        self.batch(job_id, batch_id)
        row = self.backend.store.conn().execute("SELECT data FROM _v1_batches WHERE id = ?", (batch_id,)).fetchone()
        return bytes(row[0] or b"")


def _query_xml(records: list[dict]) -> bytes:
    def fields(rec: dict) -> str:
        out = []
        for k, v in rec.items():
            if k == "attributes":
                continue
            if isinstance(v, dict):
                out.append(f'<{k} xsi:type="sObject"><type>{escape(v["attributes"]["type"])}</type>{fields(v)}</{k}>')
            elif v is None:
                out.append(f'<{k} xsi:nil="true"/>')
            else:
                out.append(f"<{k}>{_xml_value(v)}</{k}>")
        return "".join(out)

    items = "".join(
        f'<records xsi:type="sObject"><type>{escape(r["attributes"]["type"])}</type>{fields(r)}</records>'
        for r in records
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{NS}" xmlns:xsi="{XSI}">{items}</queryResult>'
    ).encode()
