"""Small stateful test doubles of the Salesforce and Intercom write surface, served by the real sandbox server.

They stand in for the project's full emulators (built in parallel) so the apply path can be tested over
HTTPS, with the server's fault injection and request log, today. They implement only what the writers use,
following shared/reference/*.md: OAuth client credentials, a SOQL subset (``SELECT … FROM O WHERE`` with
``Id IN (…)``, ``X = '…'``, ``SystemModstamp > DT`` joined by AND), sObject Collections (incl. upsert by an
External ID), Bulk API 2.0 ingest (update; upsert by Id or an External ID), Sforce-Limit-Info; Intercom contact get/update/search/merge and company get/update with
X-RateLimit-* headers and fixed 10-second windows. Each keeps ``writes[(object, id)]``: how many times each
record was written, which is what the exactly-once tests read. The doubles have tests of their own below.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from crmsandbox.service import ENV_FAULTS, ENV_RECORDS, ENV_SEQ
from crmsandbox.testing import running_sandbox
from syncaudit.http import verified_session

SF_PREFIX = {"Contact": "003", "Lead": "00Q", "Account": "001", "Task": "00T", "Case": "500"}
UNIQUE = {("Contact", "Product_User_Id__c"), ("Lead", "Product_User_Id__c"), ("Task", "Intercom_Conversation_Id__c")}
EXTERNAL = UNIQUE  # the External ID fields an upsert may match on


def sf_stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}+0000"


def _parse_dt(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00").replace("+0000", "+00:00")).timestamp()


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers or {})


class FakeSalesforce:
    name = "salesforce"

    def __init__(self, records: dict[str, list[dict[str, Any]]], *, daily_limit: int = 15000) -> None:
        self._initial = copy.deepcopy(records)
        self.daily_limit = daily_limit
        self.lock = threading.Lock()
        self.reset()

    # -------------------------------------------------------------- state

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.db: dict[str, dict[str, dict[str, Any]]] = {}
            self.counter = itertools.count(1)
            now = time.time() - 3600
            for obj, rows in copy.deepcopy(self._initial).items():
                table = self.db.setdefault(obj, {})
                for r in rows:
                    r.setdefault("Id", self._new_id(obj))
                    r.setdefault("SystemModstamp", sf_stamp(now))
                    table[r["Id"]] = r
            # The org's facts, read at connect (a sandbox org: writes need no production opt-in).
            self.db["Organization"] = {
                ORG_ID: {
                    "Id": ORG_ID,
                    "Name": "Fake sandbox",
                    "IsSandbox": True,
                    "OrganizationType": "Developer Edition",
                }
            }
            self.writes: dict[str, int] = {}
            self.tokens = {"tok-initial"}
            self.used = 0
            self.jobs: dict[str, dict[str, Any]] = {}

    def _new_id(self, obj: str) -> str:
        return f"{SF_PREFIX.get(obj, 'a00')}{next(self.counter):012d}AAA"

    def dump(self) -> dict[str, Any]:
        return {"objects": {o: len(t) for o, t in self.db.items()}, "writes": dict(self.writes), "used": self.used}

    def connection_facts(self, base_url: str) -> dict[str, Any]:
        return {
            "instance_url": base_url,
            "token_url": f"{base_url}/services/oauth2/token",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret-value",
        }

    def control_expire_tokens(self) -> dict[str, Any]:
        self.tokens.clear()
        return {"ok": True}

    def control_api_usage(self, used: int | None = None, daily: int | None = None) -> dict[str, Any]:
        if used is not None:
            self.used = used
        if daily is not None:
            self.daily_limit = daily
        return {"used": self.used, "daily": self.daily_limit}

    def control_touch(self, obj: str, id: str, fields: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        """Someone else edits a record (tests of optimistic concurrency)."""
        with self.lock:
            rec = self.db[obj][id]
            rec.update(fields)
            rec["SystemModstamp"] = sf_stamp(time.time())
        return rec

    def control_record(self, obj: str, id: str) -> dict[str, Any] | None:  # noqa: A002
        return self.db.get(obj, {}).get(id)

    def control_find(self, obj: str, field: str, value: Any) -> list[dict[str, Any]]:
        return [r for r in self.db.get(obj, {}).values() if r.get(field) == value]

    # -------------------------------------------------------------- writes

    def _write(
        self,
        obj: str,
        rec_id: str | None,
        fields: dict[str, Any],
        environ: dict[str, Any],
        i: int,
        create: bool = False,
    ) -> dict[str, Any]:
        fail = environ[ENV_FAULTS].record_failure(environ[ENV_SEQ], i)
        if fail:
            return {"success": False, "errors": [{"statusCode": fail, "message": f"injected {fail}", "fields": []}]}
        table = self.db.setdefault(obj, {})
        if create:
            rec_id = self._new_id(obj)
            table[rec_id] = {"Id": rec_id, "CreatedDate": sf_stamp(time.time())}
        rec = table.get(rec_id or "")
        if rec is None or rec.get("IsDeleted"):
            return {
                "success": False,
                "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}],
            }
        for f, v in fields.items():
            if (obj, f) in UNIQUE and v not in (None, ""):
                other = next((r for r in table.values() if r.get(f) == v and r["Id"] != rec_id), None)
                if other:
                    return {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "DUPLICATE_VALUE",
                                "fields": [f],
                                "message": f"duplicate value found: {f} duplicates value on record with id: {other['Id']}",
                            }
                        ],
                    }
        rec.update(fields)
        rec["SystemModstamp"] = sf_stamp(time.time())
        key = f"{obj}/{rec_id}"
        self.writes[key] = self.writes.get(key, 0) + 1
        environ[ENV_RECORDS] = environ.get(ENV_RECORDS, 0) + 1
        return {"id": rec_id, "success": True, "errors": []}

    # -------------------------------------------------------------- SOQL subset

    def _query(self, soql: str) -> list[dict[str, Any]]:
        m = re.match(r"(?is)^SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+))?$", soql.strip())
        if not m:
            raise ValueError(f"MALFORMED_QUERY: {soql}")
        fields = [f.strip() for f in m.group(1).split(",")]
        rows = [r for r in self.db.get(m.group(2), {}).values() if not r.get("IsDeleted")]
        for cond in re.split(r"(?i)\s+AND\s+", m.group(3) or ""):
            cond = cond.strip()
            if not cond:
                continue
            if mm := re.match(r"(?is)^(\w+)\s+IN\s+\((.*)\)$", cond):
                vals = set(re.findall(r"'((?:[^'\\]|\\.)*)'", mm.group(2)))
                rows = [r for r in rows if r.get(mm.group(1)) in vals]
            elif mm := re.match(r"(?is)^(\w+)\s*>\s*(\S+)$", cond):
                t = _parse_dt(mm.group(2))
                rows = [r for r in rows if r.get(mm.group(1)) and _parse_dt(r[mm.group(1)]) > t]
            elif mm := re.match(r"(?is)^(\w+)\s*=\s*'((?:[^'\\]|\\.)*)'$", cond):
                val = mm.group(2).replace("\\'", "'").replace("\\\\", "\\")
                rows = [r for r in rows if str(r.get(mm.group(1))) == val]
            else:
                raise ValueError(f"MALFORMED_QUERY: {cond}")
        return [{"attributes": {"type": m.group(2)}, **{f: r.get(f) for f in fields}} for r in rows]

    # -------------------------------------------------------------- WSGI

    def wsgi_app(self):  # noqa: ANN201
        def app(environ: dict[str, Any], start_response: Any) -> Any:
            req = Request(environ)
            with self.lock:
                resp = self._route(req, environ)
            return resp(environ, start_response)

        return app

    def _route(self, req: Request, environ: dict[str, Any]) -> Response:
        path = req.path
        if path == "/services/oauth2/token":
            if req.form.get("client_secret") != "sandbox-secret-value":
                return _json({"error": "invalid_client"}, 400)
            tok = f"00D000000000001!tok{next(self.counter)}"
            self.tokens.add(tok)
            base = f"https://{req.host}"
            return _json({"access_token": tok, "instance_url": base, "token_type": "Bearer"})
        auth = req.headers.get("Authorization", "")
        if auth.split(" ", 1)[-1] not in self.tokens:
            return _json([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)
        self.used += 1
        hdr = {"Sforce-Limit-Info": f"api-usage={self.used}/{self.daily_limit}"}
        if self.used > self.daily_limit:
            return _json(
                [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 403, hdr
            )
        if path.rstrip("/") == "/services/data":
            return _json([{"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}], 200, hdr)
        m = re.match(r"^/services/data/v\d+\.\d+/(.*)$", path)
        rest = m.group(1).rstrip("/") if m else ""
        if rest == "limits":
            daily = {"Max": self.daily_limit, "Remaining": max(0, self.daily_limit - self.used)}
            return _json({"DailyApiRequests": daily}, 200, hdr)
        if mm := re.match(r"^sobjects/(\w+)/describe$", rest):
            return _json(_fake_describe(mm.group(1)), 200, hdr)
        try:
            if rest.startswith("query"):
                if rest.startswith("query/"):
                    loc, off = rest.split("/", 1)[1].rsplit("-", 1)
                    rows, off = self.jobs[loc]["rows"], int(off)
                else:
                    rows, off = self._query(req.args["q"]), 0
                page = rows[off : off + 2000]
                body: dict[str, Any] = {"totalSize": len(rows), "done": off + 2000 >= len(rows), "records": page}
                if not body["done"]:
                    loc = f"01g{next(self.counter)}"
                    self.jobs[loc] = {"rows": rows}
                    body["nextRecordsUrl"] = f"/services/data/v59.0/query/{loc}-{off + 2000}"
                environ[ENV_RECORDS] = len(page)
                return _json(body, 200, hdr)
            if rest == "composite/sobjects":
                return self._collections(req, environ, hdr)
            if rest.startswith("composite/sobjects/") and req.method == "PATCH":
                obj, field = rest.split("/")[2:4]
                return self._upsert_collection(req, obj, field, environ, hdr)
            if rest.startswith("jobs/ingest"):
                return self._bulk(req, rest, environ, hdr)
        except ValueError as exc:
            return _json([{"message": str(exc), "errorCode": "MALFORMED_QUERY"}], 400, hdr)
        return _json([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], 404, hdr)

    def _collections(self, req: Request, environ: dict[str, Any], hdr: dict[str, str]) -> Response:
        if req.method == "DELETE":
            ids = [i for i in req.args.get("ids", "").split(",") if i]
            out = []
            for rid in ids:
                obj = next((o for o, t in self.db.items() if rid in t), None)
                if obj is None:
                    out.append({"id": rid, "success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED"}]})
                    continue
                del self.db[obj][rid]
                self.writes[f"{obj}/{rid}"] = self.writes.get(f"{obj}/{rid}", 0) + 1
                environ[ENV_RECORDS] = environ.get(ENV_RECORDS, 0) + 1
                out.append({"id": rid, "success": True, "errors": []})
            return _json(out, 200, hdr)
        body = req.get_json()
        records = body["records"]
        if len(records) > 200:
            return _json([{"message": "record limit reached", "errorCode": "EXCEEDED_ID_LIMIT"}], 400, hdr)
        out = []
        for i, r in enumerate(records):
            obj = r["attributes"]["type"]
            fields = {k: v for k, v in r.items() if k not in ("attributes", "Id")}
            out.append(self._write(obj, r.get("Id"), fields, environ, i, create=req.method == "POST"))
        return _json(out, 200, hdr)

    def _upsert_one(self, obj: str, field: str, rec: dict[str, Any], environ: dict[str, Any], i: int) -> dict[str, Any]:
        """Upsert semantics: match ``field`` (Id: a missing record fails, never creates; else create if absent)."""
        key = rec.get(field)
        fields = {k: v for k, v in rec.items() if k not in ("attributes", "Id")}
        if field == "Id":
            if not key:  # Salesforce inserts a row whose Id is blank: the writer must never send one
                return {**self._write(obj, None, fields, environ, i, create=True), "created": True}
            return {**self._write(obj, key, fields, environ, i), "created": False}
        hits = [r["Id"] for r in self.db.get(obj, {}).values() if key and r.get(field) == key]
        if hits:
            return {**self._write(obj, hits[0], fields, environ, i), "created": False}
        return {**self._write(obj, None, fields, environ, i, create=True), "created": True}

    def _upsert_collection(
        self, req: Request, obj: str, field: str, environ: dict[str, Any], hdr: dict[str, str]
    ) -> Response:
        if (obj, field) not in EXTERNAL and field != "Id":
            msg = f"Field name provided, {field} is not an External ID or indexed field for {obj}"
            return _json([{"message": msg, "errorCode": "INVALID_FIELD"}], 400, hdr)
        records = req.get_json()["records"]
        if len(records) > 200:
            return _json([{"message": "record limit reached", "errorCode": "EXCEEDED_ID_LIMIT"}], 400, hdr)
        return _json([self._upsert_one(obj, field, r, environ, i) for i, r in enumerate(records)], 200, hdr)

    def _bulk(self, req: Request, rest: str, environ: dict[str, Any], hdr: dict[str, str]) -> Response:
        parts = rest.split("/")
        if len(parts) == 2 and req.method == "POST":
            body = req.get_json()
            job_id = f"750{next(self.counter):012d}AAA"
            self.jobs[job_id] = {
                "id": job_id,
                "object": body["object"],
                "operation": body["operation"],
                "externalIdFieldName": body.get("externalIdFieldName"),
                "state": "Open",
                "csv": None,
                "ok": [],
                "bad": [],
                "numberRecordsProcessed": 0,
                "numberRecordsFailed": 0,
            }
            return _json(self._info(job_id), 200, hdr)
        job = self.jobs.get(parts[2])
        if job is None:
            return _json([{"errorCode": "NOT_FOUND", "message": "no such job"}], 404, hdr)
        tail = "/".join(parts[3:]).lower()
        if tail == "batches" and req.method == "PUT":
            if job["state"] != "Open" or job["csv"] is not None:
                return _json([{"errorCode": "INVALIDJOBSTATE", "message": "job not open"}], 400, hdr)
            job["csv"] = req.get_data(as_text=True)
            return Response("", 201, headers=hdr)
        if tail == "" and req.method == "PATCH":
            state = req.get_json()["state"]
            if state == "UploadComplete" and job["state"] == "Open":
                self._run_job(job, environ)
            elif state == "Aborted" and job["state"] in ("Open", "UploadComplete", "InProgress"):
                job["state"] = "Aborted"
            return _json(self._info(job["id"]), 200, hdr)
        if tail == "" and req.method == "GET":
            return _json(self._info(job["id"]), 200, hdr)
        if tail in ("successfulresults", "failedresults"):
            rows = job["ok"] if tail == "successfulresults" else job["bad"]
            return Response(rows_csv(rows), 200, mimetype="text/csv", headers=hdr)
        return _json([{"errorCode": "NOT_FOUND", "message": "unknown job route"}], 404, hdr)

    def _run_job(self, job: dict[str, Any], environ: dict[str, Any]) -> None:
        reader = list(csv.DictReader(io.StringIO(job["csv"] or "")))
        for i, row in enumerate(reader):
            fields = {k: (None if v == "#N/A" else _num(v)) for k, v in row.items() if v != ""}
            if job["operation"] == "upsert":
                ext = job["externalIdFieldName"]
                res = self._upsert_one(job["object"], ext, {**fields, ext: row.get(ext) or None}, environ, i)
            else:
                res = self._write(job["object"], row["Id"], {k: v for k, v in fields.items() if k != "Id"}, environ, i)
            if res["success"]:
                created = "true" if res.get("created") else "false"
                job["ok"].append({"sf__Id": res["id"], "sf__Created": created, **row})
            else:
                e = res["errors"][0]
                job["bad"].append({"sf__Id": "", "sf__Error": f"{e['statusCode']}:{e.get('message', '')}:--", **row})
        job["state"] = "JobComplete"
        job["numberRecordsProcessed"] = len(reader)
        job["numberRecordsFailed"] = len(job["bad"])

    def _info(self, job_id: str) -> dict[str, Any]:
        j = self.jobs[job_id]
        return {
            k: j[k] for k in ("id", "object", "operation", "state", "numberRecordsProcessed", "numberRecordsFailed")
        }


def _num(v: str) -> Any:
    try:
        f = float(v)
        return f
    except ValueError:
        return v


def rows_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


class FakeIntercom:
    name = "intercom"

    def __init__(
        self,
        contacts: list[dict[str, Any]],
        companies: list[dict[str, Any]] | None = None,
        *,
        per_window: int = 1000,
        window_s: float = 10.0,
    ) -> None:
        self._initial = (copy.deepcopy(contacts), copy.deepcopy(companies or []))
        self.per_window = per_window
        self.window_s = window_s
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            contacts, companies = copy.deepcopy(self._initial)
            self.contacts = {c["id"]: c for c in contacts}
            self.companies = {c["id"]: c for c in companies}
            self.merged: dict[str, str] = {}
            self.pending: dict[str, dict[str, Any]] = {}
            self.writes: dict[str, int] = {}
            self.window_start = 0.0
            self.window_used = 0
            self.too_many = 0

    def dump(self) -> dict[str, Any]:
        return {"contacts": len(self.contacts), "writes": dict(self.writes), "429": self.too_many}

    def connection_facts(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "token": "ic-sandbox-token-0001"}

    def control_rate_limit(self, per_window: int, window_s: float = 10.0) -> dict[str, Any]:
        self.per_window, self.window_s = per_window, window_s
        return {"per_window": per_window}

    def control_touch(self, id: str, fields: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        c = self.contacts[id]
        _apply_contact(c, fields)
        c["updated_at"] = int(time.time()) + 1
        return c

    def control_contact(self, id: str) -> dict[str, Any] | None:  # noqa: A002
        return self.contacts.get(id)

    def control_interleave(self, id: str, fields: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        """Someone else's write lands just before the next PUT of this contact (after the apply re-read it)."""
        self.pending[id] = fields
        return {"ok": True}

    def wsgi_app(self):  # noqa: ANN201
        def app(environ: dict[str, Any], start_response: Any) -> Any:
            req = Request(environ)
            with self.lock:
                resp = self._route(req, environ)
            return resp(environ, start_response)

        return app

    def _route(self, req: Request, environ: dict[str, Any]) -> Response:
        now = time.time()
        if now >= self.window_start + self.window_s:
            self.window_start = now - (now % self.window_s)
            self.window_used = 0
        self.window_used += 1
        reset = int(self.window_start + self.window_s)
        remaining = max(0, self.per_window - self.window_used)
        hdr = {
            "X-RateLimit-Limit": str(self.per_window),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }
        if req.headers.get("Authorization") != "Bearer ic-sandbox-token-0001":
            return _json(_err("unauthorized", "Access Token Invalid"), 401, hdr)
        if self.window_used > self.per_window:
            self.too_many += 1
            return _json(_err("rate_limit_exceeded", "Rate Limit Exceeded"), 429, hdr)
        path, m = req.path, None
        if path == "/me":
            return _json({"type": "admin", "id": "1", "email": "admin@fake.test", "app": {"name": "Fake"}}, 200, hdr)
        if path == "/data_attributes":
            return _json({"type": "list", "data": _fake_attributes(req.args.get("model", "contact"))}, 200, hdr)
        if path == "/contacts/search" and req.method == "POST":
            return self._search(req.get_json(), environ, hdr)
        if path == "/contacts/merge" and req.method == "POST":
            body = req.get_json()
            lead, user = self.contacts.get(body["from"]), self.contacts.get(body["into"])
            if lead is None or user is None:
                return _json(_err("not_found", "User Not Found"), 404, hdr)
            if lead.get("role") != "lead" or user.get("role") != "user":
                return _json(_err("bad_request", "from must be a lead and into a user"), 400, hdr)
            del self.contacts[lead["id"]]
            self.merged[lead["id"]] = user["id"]
            self.writes[lead["id"]] = self.writes.get(lead["id"], 0) + 1
            environ[ENV_RECORDS] = 1
            return _json(user, 200, hdr)
        if m := re.match(r"^/(contacts|companies)/([0-9a-f]+)$", path):
            store = self.contacts if m.group(1) == "contacts" else self.companies
            c = store.get(m.group(2))
            if c is None:
                if m.group(2) in self.merged:
                    return _json(_err("contact_merged", "This contact has been merged."), 410, hdr)
                return _json(_err("not_found", "User Not Found"), 404, hdr)
            if req.method == "PUT":
                body = req.get_json()
                ext = body.get("external_id")
                if ext and any(o.get("external_id") == ext and o["id"] != c["id"] for o in self.contacts.values()):
                    return _json(_err("conflict", "A contact matching those details already exists"), 409, hdr)
                if m.group(2) in self.pending:
                    _apply_contact(c, self.pending.pop(m.group(2)))
                _apply_contact(c, body)
                c["updated_at"] = int(time.time())
                self.writes[c["id"]] = self.writes.get(c["id"], 0) + 1
                environ[ENV_RECORDS] = 1
            return _json(c, 200, hdr)
        return _json(_err("not_found", "Resource Not Found"), 404, hdr)

    def _search(self, body: dict[str, Any], environ: dict[str, Any], hdr: dict[str, str]) -> Response:
        q = body["query"]
        conds = q["value"] if q.get("operator") in ("AND",) else [q]
        rows = sorted(self.contacts.values(), key=lambda c: c["id"])
        for c in conds:
            f, op, v = c["field"], c["operator"], c["value"]
            if op == "IN":
                rows = [r for r in rows if r.get(f) in set(v)]
            elif op == ">":
                rows = [r for r in rows if (r.get(f) or 0) > v]
            elif op == "=":
                rows = [r for r in rows if r.get(f) == v]
        pag = body.get("pagination") or {}
        per = int(pag.get("per_page", 50))
        after = pag.get("starting_after")
        if after:
            rows = [r for r in rows if r["id"] > after]
        page = rows[:per]
        nxt = {"starting_after": page[-1]["id"]} if len(rows) > per else None
        environ[ENV_RECORDS] = len(page)
        return _json(
            {
                "type": "list",
                "data": page,
                "total_count": len(rows),
                "pages": {"type": "pages", "per_page": per, "next": nxt},
            },
            200,
            hdr,
        )


def _apply_contact(c: dict[str, Any], body: dict[str, Any]) -> None:
    for k, v in body.items():
        if k == "custom_attributes":
            c.setdefault("custom_attributes", {}).update(v)
        else:
            c[k] = v


def _err(code: str, message: str) -> dict[str, Any]:
    return {"type": "error.list", "request_id": "fake", "errors": [{"code": code, "message": message}]}


# ------------------------------------------------------------------ the doubles' own tests


def _doubles() -> dict[str, Any]:
    sf = FakeSalesforce({"Contact": [{"Id": "003000000000001AAA", "Email": "a@x.example"}]})
    ic = FakeIntercom(
        [{"id": "6762f0d01bb69f9f2193bb7d", "role": "user", "updated_at": 100, "email": "a@x.example"}], per_window=3
    )
    return {"salesforce": sf, "intercom": ic}


def test_fake_salesforce_collections_query_and_limit_header() -> None:
    with running_sandbox(services=_doubles()) as sb:
        s = verified_session(sb["ca_cert"])
        base = sb["salesforce"]["instance_url"]
        assert s.get(base + "/services/data/v59.0/query", params={"q": "SELECT Id FROM Contact"}).status_code == 401
        tok = s.post(
            sb["salesforce"]["token_url"],
            data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "sandbox-secret-value"},
        ).json()
        h = {"Authorization": f"Bearer {tok['access_token']}"}
        r = s.patch(
            base + "/services/data/v59.0/composite/sobjects",
            headers=h,
            json={
                "allOrNone": False,
                "records": [{"attributes": {"type": "Contact"}, "Id": "003000000000001AAA", "Email": "b@x.example"}],
            },
        )
        assert r.json()[0]["success"] and r.headers["Sforce-Limit-Info"] == "api-usage=1/15000"
        q = s.get(
            base + "/services/data/v59.0/query",
            headers=h,
            params={"q": "SELECT Id, Email FROM Contact WHERE Id IN ('003000000000001AAA')"},
        ).json()
        assert q["records"][0]["Email"] == "b@x.example"
        assert sb.control("GET", "state")["salesforce"]["writes"] == {"Contact/003000000000001AAA": 1}


def test_fake_intercom_rate_window_and_merge_semantics() -> None:
    with running_sandbox(services=_doubles()) as sb:
        s = verified_session(sb["ca_cert"])
        h = {"Authorization": "Bearer ic-sandbox-token-0001"}
        base = sb["intercom"]["base_url"]
        statuses = [s.get(base + "/contacts/6762f0d01bb69f9f2193bb7d", headers=h).status_code for _ in range(4)]
        assert statuses[-1] == 429 or statuses.count(200) <= 3
        assert "X-RateLimit-Reset" in s.get(base + "/contacts/x", headers=h).headers


# ------------------------------------------------------------------ a small org pair, its snapshot and findings

IC_APP = "tx2p130c"


def _hex(i: int, salt: int = 0) -> str:
    return f"{salt:04x}{i:020x}"


class TinySnapshot:
    """What the planner needs of a snapshot (``syncaudit.snapshot`` shape): path, manifest, duckdb()."""

    def __init__(self, tables: dict[str, list[dict[str, Any]]], taken_at: float, path: str = "20261126T120000Z"):
        self.tables = tables
        self.manifest = {"id": path, "started_at": datetime.fromtimestamp(taken_at, UTC).isoformat()}
        self.path = path

    def duckdb(self) -> Any:
        import duckdb
        import pyarrow as pa

        con = duckdb.connect()
        for name, rows in self.tables.items():
            t = pa.Table.from_pylist(rows)  # noqa: F841 - referenced by name in the SQL below
            con.register(f"_{name}", t)
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "_{name}"')
        return con


def make_world(n: int = 12, *, leads: int = 1, convs: int = 1) -> dict[str, Any]:
    """n linked people with planted defects, their snapshot (taken now) and the findings the audit would report.

    Person i: i % 4 == 0 -> Plan_Type__c drifted (Intercom owns it); 1 -> lifecycle_stage drifted (Salesforce
    owns it); 2 -> Salesforce key missing (identity_gap); 3 -> Intercom external_id missing (identity_gap).
    Persons 0 .. convs-1 each have an unlogged conversation (ids 471, 472, ...); ``leads`` Intercom leads
    duplicate person 1.
    """
    now = time.time()
    old = now - 3600
    stamp = sf_stamp(old)
    contacts, ic, findings = [], [], []
    for i in range(n):
        sf_id = f"003{i + 1:012d}AAA"
        key = f"user-{i}"
        c = {
            "Id": sf_id,
            "Name": f"Pat Person{i}",
            "Email": f"p{i}@acme.example",
            "Product_User_Id__c": None if i % 4 == 2 else key,
            "Plan_Type__c": "Free" if i % 4 == 0 else "Pro",
            "Lifecycle_Stage__c": "SQL",
            "Seats__c": 3.0,
            "SystemModstamp": stamp,
        }
        contacts.append(c)
        icc = {
            "id": _hex(i),
            "role": "user",
            "external_id": None if i % 4 == 3 else key,
            "name": f"Pat Person{i}",
            "email": f"p{i}@acme.example",
            "updated_at": int(old),
            "custom_attributes": {"plan_type": "Pro", "lifecycle_stage": "MQL" if i % 4 == 1 else "SQL", "seats": 3},
        }
        ic.append(icc)
        kinds = {
            0: ("field_drift", "plan_type"),
            1: ("field_drift", "lifecycle_stage"),
            2: ("identity_gap", None),
            3: ("identity_gap", None),
        }[i % 4]
        findings.append(
            {
                "id": f"f{i:04d}",
                "kind": kinds[0],
                "system": "both",
                "object": "Contact",
                "records": [sf_id, icc["id"]],
                "field": kinds[1],
                "severity": "medium",
                # identity gaps found by the same email (and, here, the same name): proven links
                **({"rule": "email_fallback"} if kinds[0] == "identity_gap" else {}),
            }
        )
    for k in range(convs):
        findings.append(
            {
                "id": f"conv{k + 1:04d}",
                "kind": "conversation_unlogged",
                "system": "intercom",
                "object": "conversation",
                "records": [contacts[k]["Id"], str(471 + k)],
                "field": None,
            }
        )
    for j in range(leads):
        lead = {
            "id": _hex(j, salt=7),
            "role": "lead",
            "external_id": None,
            "name": "Pat Person1",
            "email": "p1@acme.example",
            "updated_at": int(old),
            "custom_attributes": {},
        }
        ic.append(lead)
        findings.append(
            {
                "id": f"dup{j:04d}",
                "kind": "duplicate",
                "system": "intercom",
                "object": "contact",
                "records": [ic[1]["id"], lead["id"]],
                "field": None,
            }
        )
    findings.append(
        {
            "id": "sfdup001",
            "kind": "duplicate",
            "system": "salesforce",
            "object": "Contact",
            "records": [contacts[0]["Id"], contacts[1]["Id"]],
            "field": None,
        }
    )
    snap_contacts = [{**c, "SystemModstamp": datetime.fromtimestamp(old, UTC)} for c in contacts]
    snap_ic = []
    for c in ic:
        row = {k: v for k, v in c.items() if k != "custom_attributes"}
        row["updated_at"] = datetime.fromtimestamp(c["updated_at"], UTC)
        for a in ("plan_type", "lifecycle_stage", "seats"):
            row[f"custom_attributes.{a}"] = c["custom_attributes"].get(a)
        snap_ic.append(row)
    snapshot = TinySnapshot({"sf_Contact": snap_contacts, "ic_contacts": snap_ic}, now - 60)
    return {"sf": {"Contact": contacts, "Task": []}, "ic": ic, "snapshot": snapshot, "findings": findings}


def world_config(tmp_path: Any, **apply: Any) -> Any:
    """config/demo.yaml pointed at a temporary data dir, with the test's apply options."""
    from syncaudit.config import load_config

    cfg = load_config("config/demo.yaml")
    fixes = cfg.fixes.model_copy(
        update={"log_conversations": cfg.fixes.log_conversations.model_copy(update={"options": {"app_id": IC_APP}})}
    )
    return cfg.model_copy(
        update={"data_dir": str(tmp_path / "data"), "fixes": fixes, "apply": cfg.apply.model_copy(update=apply)}
    )


ORG_ID = "00D000000000001AAA"


def _fake_describe(obj: str) -> dict[str, Any]:
    """The fake org is set up for the demo mapping: every field it reads or writes exists and is editable."""
    from syncaudit.config import load_config
    from syncaudit.connectors.preflight import salesforce_needs

    needs = salesforce_needs(load_config("config/demo.yaml"))
    names = needs.read.get(obj, set()) | needs.update.get(obj, set()) | needs.create.get(obj, set()) | {"Id"}
    fields = [{"name": n, "updateable": True, "createable": True} for n in sorted(names)]
    return {"name": obj, "queryable": True, "updateable": True, "fields": fields}


def _fake_attributes(model: str) -> list[dict[str, Any]]:
    from syncaudit.config import load_config
    from syncaudit.connectors.preflight import intercom_needs

    needs = intercom_needs(load_config("config/demo.yaml"))
    return [
        {"name": n, "model": m, "data_type": "string", "archived": False, "api_writable": True}
        for m, n in sorted(needs)
        if m == model
    ]


def world_services(world: dict[str, Any], **ic_kw: Any) -> dict[str, Any]:
    return {"salesforce": FakeSalesforce(world["sf"]), "intercom": FakeIntercom(world["ic"], **ic_kw)}


def test_world_snapshot_is_queryable_through_duckdb() -> None:
    w = make_world(4)
    con = w["snapshot"].duckdb()
    assert con.execute('SELECT COUNT(*) FROM sf_Contact WHERE "Product_User_Id__c" IS NULL').fetchone()[0] == 1
    assert con.execute('SELECT "custom_attributes.plan_type" FROM ic_contacts LIMIT 1').fetchone()[0] == "Pro"
