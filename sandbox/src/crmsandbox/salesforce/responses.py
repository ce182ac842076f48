"""The HTTP layer of the Salesforce sandbox: parse requests, call the backend, render the wire format.

Every Salesforce error raised below becomes the exact wire error (JSON array with errorCode); anything
unexpected becomes a 500 UNKNOWN_EXCEPTION without a traceback (the traceback goes to the log).
"""

from __future__ import annotations

import json
import logging
import re

import orjson
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import duplicates
from . import exceptions as exc
from .auth_responses import AuthRoutes
from .bulk_v1_responses import AsyncRoutes
from .rest_composite import CompositeRoutes

log = logging.getLogger(__name__)
JSON_TYPE = "application/json;charset=UTF-8"
MIN_VERSION, MAX_VERSION = 31.0, 62.0
_VERSION_RE = re.compile(r"^\d{2}\.\d$")
_SEASONS = ["Spring", "Summer", "Winter"]
MAX_PAGE, MIN_PAGE = 2000, 200


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    data = orjson.dumps(body) if body is not None else b""
    return Response(data, status=status, headers=headers, content_type=JSON_TYPE if body is not None else None)


def error_response(e: exc.SalesforceError, version: str = "59.0") -> Response:
    if isinstance(e, exc.MultipleRecords):
        obj = getattr(e, "sobject", "")
        return json_response([f"/services/data/v{version}/sobjects/{obj}/{i}" for i in e.ids], 300)
    return json_response(e.body(), e.status)


def versions() -> list[dict]:
    out = []
    v = MIN_VERSION
    while v <= MAX_VERSION:
        # three releases a year starting Spring '15 at 33.0
        idx = int(v - 33)  # Winter releases carry the next year's number: v59.0 is Winter '24 (autumn 2023)
        season = _SEASONS[idx % 3]
        year = 15 + idx // 3 + (season == "Winter")
        out.append({"label": f"{season} '{year:02d}", "url": f"/services/data/v{v:.1f}", "version": f"{v:.1f}"})
        v += 1
    return out


_D = "/services/data/v<ver>"
URL_MAP = Map(
    [
        Rule("/services/data", endpoint="versions"),
        Rule(_D, endpoint="resources"),
        Rule(f"{_D}/limits", endpoint="limits"),
        Rule(f"{_D}/sobjects", endpoint="describe_global"),
        Rule(f"{_D}/sobjects/<obj>", endpoint="sobject"),
        Rule(f"{_D}/sobjects/<obj>/describe", endpoint="describe"),
        Rule(f"{_D}/sobjects/<obj>/<rid>", endpoint="record"),
        Rule(f"{_D}/sobjects/<obj>/<field>/<path:value>", endpoint="external"),
        Rule(f"{_D}/query", endpoint="query"),
        Rule(f"{_D}/queryAll", endpoint="query_all"),
        Rule(f"{_D}/query/<locator>", endpoint="query_more"),
        Rule(f"{_D}/queryAll/<locator>", endpoint="query_more"),
        Rule(f"{_D}/composite/sobjects", endpoint="collections"),
        Rule(f"{_D}/composite/sobjects/<obj>", endpoint="collections"),
        Rule(f"{_D}/composite/sobjects/<obj>/<field>", endpoint="collections_upsert"),
        Rule(f"{_D}/composite/batch", endpoint="composite_batch"),
        Rule(f"{_D}/jobs/query", endpoint="query_jobs"),
        Rule(f"{_D}/jobs/query/<job>", endpoint="query_job"),
        Rule(f"{_D}/jobs/query/<job>/results", endpoint="query_results"),
        Rule(f"{_D}/jobs/ingest", endpoint="ingest_jobs"),
        Rule(f"{_D}/jobs/ingest/<job>", endpoint="ingest_job"),
        Rule(f"{_D}/jobs/ingest/<job>/batches", endpoint="ingest_upload"),
        Rule(f"{_D}/jobs/ingest/<job>/<kind>", endpoint="ingest_results"),
        Rule("/services/oauth2/token", endpoint="token"),
        Rule("/services/oauth2/userinfo", endpoint="userinfo"),
        Rule("/services/oauth2/revoke", endpoint="revoke"),
        Rule("/id/<org>/<user>", endpoint="identity"),
        Rule("/services/Soap/u/<ver>", endpoint="soap_login"),
        Rule("/services/async/<ver>/<path:rest>", endpoint="async"),
    ],
    strict_slashes=False,
    merge_slashes=False,
)
UNAUTHENTICATED = {"versions", "token", "revoke", "soap_login", "async"}  # async checks its own session header


def read_json(request: Request):
    """The request body as JSON; JSON_PARSER_ERROR with the position when it is not."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        line, col = getattr(e, "lineno", 1), getattr(e, "colno", 1)
        pos = getattr(e, "pos", 0)
        if pos >= len(raw.rstrip()):
            raise exc.JsonParserError(f"Unexpected end-of-input at [line:{line}, column:{col}]") from None
        ch = raw[pos : pos + 1].decode("utf-8", "replace")
        raise exc.JsonParserError(
            f"Unexpected character ('{ch}'): was expecting a JSON value at [line:{line}, column:{col}]"
        ) from None


class SalesforceApp(AuthRoutes, CompositeRoutes, AsyncRoutes):
    """The WSGI application over a backend (models), query engine and bulk jobs."""

    def __init__(self, service) -> None:
        self.service = service
        self.backend = service.backend
        self.auth = service.auth
        self.engine = service.engine
        self.bulk = service.bulk
        self.bulk_v1 = service.bulk_v1
        self._describe_cache: dict[tuple[str, str], dict] = {}

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        environ = request.environ
        environ.setdefault("crmsandbox.records", 0)
        # Read every body up front: a kept-alive connection must never carry an unread body to the next call.
        request.get_data(cache=True)
        version = "59.0"
        limit_header = False
        try:
            adapter = URL_MAP.bind_to_environ(environ)
            try:
                endpoint, args = adapter.match(request.path.rstrip("/") or "/", method=None)
            except HTTPException:
                raise exc.NotFound("The requested resource does not exist") from None
            if "ver" in args:
                version = args.pop("ver")
                if endpoint != "soap_login":
                    self._check_version(version)
            if endpoint not in UNAUTHENTICATED:
                token = self._token(request)
                if endpoint == "identity" and token is None:  # the identity URL also takes ?oauth_token=
                    token = request.args.get("oauth_token")
                self.auth.check(token)
                if self.auth.api_disabled:
                    raise exc.ApiDisabledForOrg()
                if endpoint not in ("userinfo", "identity"):
                    limit_header = True
                    self.auth.count_call()
            handler = getattr(self, "on_" + endpoint)
            allow = duplicates.ALLOW_SAVE.set(duplicates.allow_save_from(request.headers.get(duplicates.HEADER)))
            try:
                response = handler(request, version, **args)
            finally:
                duplicates.ALLOW_SAVE.reset(allow)
        except exc.SalesforceError as e:
            if isinstance(e, exc.RequestLimitExceeded):
                limit_header = True
            response = error_response(e, version)
        except Exception:  # noqa: BLE001 - the wire answer for any bug is Salesforce's 500, never a traceback
            log.exception("salesforce sandbox: unexpected error on %s %s", request.method, request.path)
            response = json_response(
                [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred. See the sandbox log."}],
                500,
            )
        if limit_header:
            response.headers["Sforce-Limit-Info"] = f"api-usage={self.auth.used}/{self.auth.daily_limit}"
        return response

    @staticmethod
    def _token(request: Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        for scheme in ("Bearer ", "OAuth "):
            if auth.startswith(scheme):
                return auth[len(scheme) :].strip()
        return request.headers.get("X-SFDC-Session")

    @staticmethod
    def _check_version(version: str) -> None:
        if not _VERSION_RE.match(version) or not MIN_VERSION <= float(version) <= MAX_VERSION:
            raise exc.NotFound(f"The requested resource does not exist: API version {version} is not supported")

    @staticmethod
    def _methods(request: Request, *allowed: str) -> None:
        if request.method not in allowed and not (request.method == "HEAD" and "GET" in allowed):
            raise exc.MethodNotAllowed(f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(allowed)}")

    # -- discovery
    def on_versions(self, request: Request, version: str) -> Response:
        self._methods(request, "GET")
        return json_response(versions())

    def on_resources(self, request: Request, version: str) -> Response:
        self._methods(request, "GET")
        base = f"/services/data/v{version}"
        names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs", "search", "tooling"]
        body = {n: f"{base}/{n}" for n in names}
        body["identity"] = f"{self._base(request)}/id/{self.backend.org_id}/{self.backend.admin_id}"
        return json_response(dict(sorted(body.items())))

    def on_limits(self, request: Request, version: str) -> Response:
        self._methods(request, "GET")
        used, cap = self.auth.used, self.auth.daily_limit
        return json_response(
            {
                "DailyApiRequests": {"Max": cap, "Remaining": cap - used},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
            }
        )

    def on_describe_global(self, request: Request, version: str) -> Response:
        from .describe import describe_global_entry

        self._methods(request, "GET")
        sobjects = [describe_global_entry(o, version) for o in self.backend.api_objs.values()]
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})

    def on_describe(self, request: Request, version: str, obj: str) -> Response:
        from .describe import describe_object

        self._methods(request, "GET")
        o = self.backend.sobject(obj)
        key = (o.name, version)
        if key not in self._describe_cache:
            self._describe_cache[key] = describe_object(o, self.backend.objs, version)
        return json_response(self._describe_cache[key])

    # -- rows
    def on_sobject(self, request: Request, version: str, obj: str) -> Response:
        from .describe import describe_global_entry

        self._methods(request, "GET", "POST")
        o = self.backend.sobject(obj)
        if request.method == "GET":
            return json_response({"objectDescribe": describe_global_entry(o, version), "recentItems": []})
        body = read_json(request)
        if not isinstance(body, dict):
            raise exc.JsonParserError("Cannot deserialize instance of SObject: the body must be a JSON object")
        with self.backend.store.write() as c:
            rid = self.backend.insert(c, o.name, body)
        request.environ["crmsandbox.records"] = 1
        return json_response({"id": rid, "success": True, "errors": []}, 201)

    def on_record(self, request: Request, version: str, obj: str, rid: str) -> Response:
        if rid in ("deleted", "updated"):
            self._methods(request, "GET")
            args = request.args
            body = self.backend.changed(obj, args.get("start", ""), args.get("end", ""), deleted=rid == "deleted")
            request.environ["crmsandbox.records"] = len(body.get("ids") or body.get("deletedRecords") or [])
            return json_response(body)
        self._methods(request, "GET", "PATCH", "DELETE")
        if request.method == "GET":
            fields = request.args.get("fields")
            rec = self.backend.get(obj, rid, version, [f.strip() for f in fields.split(",")] if fields else None)
            request.environ["crmsandbox.records"] = 1
            return json_response(rec)
        if request.method == "PATCH":
            body = read_json(request)
            if not isinstance(body, dict):
                raise exc.JsonParserError("Cannot deserialize instance of SObject: the body must be a JSON object")
            with self.backend.store.write() as c:
                self.backend.update(c, obj, rid, body)
        else:
            with self.backend.store.write() as c:
                self.backend.delete(c, obj, rid)
        request.environ["crmsandbox.records"] = 1
        return Response(status=204)

    def on_external(self, request: Request, version: str, obj: str, field: str, value: str) -> Response:
        self._methods(request, "GET", "PATCH", "DELETE")
        if request.method == "PATCH":
            body = read_json(request)
            if not isinstance(body, dict):
                raise exc.JsonParserError("Cannot deserialize instance of SObject: the body must be a JSON object")
            if request.args.get("updateOnly", "").lower() == "true":
                _, _, ids = self.backend.find_by_external(obj, field, value)
                if not ids:
                    raise exc.NotFound(f"Provided external ID field does not exist or is not accessible: {value}")
            try:
                with self.backend.store.write() as c:
                    rid, created = self.backend.upsert(c, obj, field, value, body)
            except exc.MultipleRecords as e:
                e.sobject = self.backend.sobject(obj).name  # type: ignore[attr-defined]
                raise
            request.environ["crmsandbox.records"] = 1
            return json_response(
                {"id": rid, "success": True, "errors": [], "created": created}, 201 if created else 200
            )
        o, _, ids = self.backend.find_by_external(obj, field, value)
        if not ids:
            raise exc.NotFound(f"Provided external ID field does not exist or is not accessible: {value}")
        if len(ids) > 1:
            e = exc.MultipleRecords(ids)
            e.sobject = o.name  # type: ignore[attr-defined]
            raise e
        request.environ["crmsandbox.records"] = 1
        if request.method == "DELETE":
            with self.backend.store.write() as c:
                self.backend.delete(c, o.name, ids[0])
            return Response(status=204)
        return json_response(self.backend.get(o.name, ids[0], version))

    # -- query
    def _page_size(self, request: Request) -> int:
        opts = request.headers.get("Sforce-Query-Options", "")
        m = re.search(r"batchSize\s*=\s*(\d+)", opts)
        return max(MIN_PAGE, min(MAX_PAGE, int(m.group(1)))) if m else MAX_PAGE

    def on_query(self, request: Request, version: str, include_deleted: bool = False) -> Response:
        self._methods(request, "GET")
        text = request.args.get("q")
        if text is None:
            raise exc.MalformedQuery("A query string has to be specified: pass it as the q parameter")
        cq = self.engine.compile(text, include_deleted)
        if request.args.get("columns", "").lower() == "true":
            from .columns import column_metadata

            return json_response(column_metadata(cq))
        size = self._page_size(request)
        cur = self.engine.open_rest(cq, size, version)
        if cq.count_only:
            return json_response({"totalSize": cur.total, "done": True, "records": []})
        rows = self.engine.fetch(cur, 0, size)
        return self._page(request, version, cur, 0, rows, "queryAll" if include_deleted else "query")

    def on_query_all(self, request: Request, version: str) -> Response:
        return self.on_query(request, version, include_deleted=True)

    def on_query_more(self, request: Request, version: str, locator: str) -> Response:
        self._methods(request, "GET")
        cid, _, off = locator.rpartition("-")
        if not cid or not off.isdigit():
            raise exc.InvalidQueryLocator("invalid query locator")
        cur = self.engine.get(cid)
        offset = int(off)
        rows = self.engine.fetch(cur, offset, self._page_size(request))
        kind = "queryAll" if "/queryAll/" in request.path else "query"
        return self._page(request, version, cur, offset, rows, kind)

    def _page(self, request, version, cur, offset, rows, kind) -> Response:
        end = offset + len(rows)
        body: dict = {"totalSize": cur.total, "done": end >= cur.total}
        if end < cur.total:
            if cur.id not in self.engine._cursors:
                self.engine.register(cur)
            body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{cur.id}-{end}"
        request.environ["crmsandbox.records"] = len(rows)
        if cur.mode == "record":  # each row already is one record's JSON, rendered by SQLite
            head = orjson.dumps(body)[:-1]
            data = head + b',"records":[' + ",".join(r[0] for r in rows).encode("utf-8") + b"]}"
            return Response(data, status=200, content_type=JSON_TYPE)
        body["records"] = self.engine.records(cur.cq, rows, version)
        return json_response(body)

    # -- bulk 2.0
    def on_query_jobs(self, request: Request, version: str) -> Response:
        self._methods(request, "GET", "POST")
        if request.method == "GET":
            return json_response(self.bulk.list("V2Query"))
        return json_response(self.bulk.create_query(read_json(request), version))

    def on_query_job(self, request: Request, version: str, job: str) -> Response:
        self._methods(request, "GET", "PATCH", "DELETE")
        if request.method == "GET":
            return json_response(self.bulk.public(self.bulk.info(job, "V2Query")))
        if request.method == "PATCH":
            return json_response(self.bulk.set_state(job, "V2Query", read_json(request)))
        self.bulk.delete(job, "V2Query")
        return Response(status=204)

    def on_query_results(self, request: Request, version: str, job: str) -> Response:
        self._methods(request, "GET")
        max_records = request.args.get("maxRecords", type=int)
        count, nxt, chunks, _ = self.bulk.query_results(job, request.args.get("locator"), max_records)
        request.environ["crmsandbox.records"] = count
        headers = {"Sforce-NumberOfRecords": str(count), "Sforce-Locator": nxt}
        return Response(chunks, status=200, headers=headers, content_type="text/csv")

    def on_ingest_jobs(self, request: Request, version: str) -> Response:
        self._methods(request, "GET", "POST")
        if request.method == "GET":
            return json_response(self.bulk.list("V2Ingest"))
        return json_response(self.bulk.create_ingest(read_json(request), version))

    def on_ingest_job(self, request: Request, version: str, job: str) -> Response:
        self._methods(request, "GET", "PATCH", "DELETE")
        if request.method == "GET":
            return json_response(self.bulk.public(self.bulk.info(job, "V2Ingest")))
        if request.method == "PATCH":
            info = self.bulk.set_state(job, "V2Ingest", read_json(request), exc.record_fault(request.environ))
            fresh = self.bulk.info(job, "V2Ingest")
            request.environ["crmsandbox.records"] = fresh.get("numberRecordsProcessed", 0)
            return json_response(info)
        self.bulk.delete(job, "V2Ingest")
        return Response(status=204)

    def on_ingest_upload(self, request: Request, version: str, job: str) -> Response:
        self._methods(request, "PUT")
        ctype = request.headers.get("Content-Type", "")
        if "csv" not in ctype.lower():
            raise exc.InvalidBatch(f"Content-Type {ctype!r} is not supported; upload text/csv")
        self.bulk.upload(job, request.get_data())
        return Response(status=201)

    def on_ingest_results(self, request: Request, version: str, job: str, kind: str) -> Response:
        self._methods(request, "GET")
        kind = kind.lower()
        if kind not in ("successfulresults", "failedresults", "unprocessedrecords"):
            raise exc.NotFound("The requested resource does not exist")
        return Response(self.bulk.ingest_results(job, kind), status=200, content_type="text/csv")
