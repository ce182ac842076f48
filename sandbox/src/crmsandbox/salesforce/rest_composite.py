"""sObject Collections (create, retrieve, update, upsert, delete; 200 records; allOrNone) and composite batch."""

from __future__ import annotations

import json

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from . import exceptions as exc

MAX_COLLECTION = 200
MAX_BATCH = 25


class CompositeRoutes:
    """Composite endpoints; a mixin of SalesforceApp."""

    def _records_body(self, request: Request) -> tuple[list, bool]:
        from .responses import read_json

        body = read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise exc.JsonParserError('the body must be {"allOrNone": bool, "records": [...]}')
        records = body["records"]
        if len(records) > MAX_COLLECTION:
            raise exc.ExceededIdLimit()
        if any(not isinstance(r, dict) for r in records):
            raise exc.JsonParserError("every element of records must be a JSON object")
        return records, bool(body.get("allOrNone", False))

    def _run_each(self, request: Request, items: list, all_or_none: bool, op) -> Response:
        """Apply ``op(conn, item)`` to each item with a savepoint each; allOrNone rolls everything back."""
        from .responses import json_response

        results: list[dict] = []
        failed = False
        fault = exc.record_fault(request.environ)

        class _Rollback(Exception):
            pass

        try:
            with self.backend.store.write() as c:
                for index, item in enumerate(items):
                    c.execute("SAVEPOINT item")
                    try:
                        injected = fault(index)
                        if injected is not None:
                            raise injected
                        results.append({"success": True, "errors": [], **op(c, item)})
                        c.execute("RELEASE item")
                    except exc.SalesforceError as e:
                        c.execute("ROLLBACK TO item")
                        c.execute("RELEASE item")
                        failed = True
                        results.append({"success": False, "errors": [e.record_error()], "_failed": True})
                if all_or_none and failed:
                    raise _Rollback
        except _Rollback:
            rolled = exc.AllOrNoneRolledBack()
            results = [
                r if r.get("_failed") else {"id": None, "success": False, "errors": [rolled.record_error()]}
                for r in results
            ]
        for r in results:
            r.pop("_failed", None)
            if not r["success"]:
                r.setdefault("id", None)
        request.environ["crmsandbox.records"] = sum(1 for r in results if r["success"])
        ordered = [
            {"id": r.get("id"), "success": r["success"], "errors": r["errors"]}
            | ({"created": r["created"]} if "created" in r else {})
            for r in results
        ]
        return json_response(ordered)

    def _type_of(self, record: dict, default: str | None) -> str:
        attrs = record.get("attributes")
        typ = attrs.get("type") if isinstance(attrs, dict) else None
        typ = typ or default
        if not typ:
            raise exc.InvalidType("No SObject Type defined in the record attributes")
        return typ

    def on_collections(self, request: Request, version: str, obj: str | None = None) -> Response:
        from .responses import json_response, read_json

        self._methods(request, "GET", "POST", "PATCH", "DELETE")
        if request.method == "GET" or (request.method == "POST" and obj):
            if request.method == "GET":
                ids = [i for i in request.args.get("ids", "").split(",") if i]
                fields = [f for f in request.args.get("fields", "").split(",") if f]
            else:
                body = read_json(request) or {}
                ids, fields = list(body.get("ids") or []), list(body.get("fields") or [])
            if not obj:
                raise exc.NotFound("retrieve needs the object: /composite/sobjects/{object}")
            if not fields:
                raise exc.MalformedQuery("fields is required: pass fields=Name,Email")
            if len(ids) > 2000:
                raise exc.ExceededIdLimit("record limit reached. cannot submit more than 2000 ids into this call")
            out = []
            for rid in ids:
                try:
                    out.append(self.backend.get(obj, rid, version, fields))
                except exc.NotFound:
                    out.append(None)
                except exc.MalformedId:
                    out.append(None)
            request.environ["crmsandbox.records"] = sum(1 for r in out if r)
            return json_response(out)
        if request.method == "DELETE":
            ids = [i for i in request.args.get("ids", "").split(",") if i]
            if len(ids) > MAX_COLLECTION:
                raise exc.ExceededIdLimit()
            all_or_none = request.args.get("allOrNone", "false").lower() == "true"

            def delete(c, rid):
                from .soql_sql import PREFIX_TO_OBJECT

                o = PREFIX_TO_OBJECT.get(rid[:3])
                if o is None:
                    raise exc.MalformedId(f"malformed id {rid}")
                return {"id": self.backend.delete(c, o, rid)}

            return self._run_each(request, ids, all_or_none, delete)
        records, all_or_none = self._records_body(request)
        if request.method == "POST":

            def create(c, rec):
                if rec.get("Id") or rec.get("id"):
                    raise exc.InvalidFieldForInsertUpdate("cannot specify Id in an insert call", ["Id"])
                typ = self._type_of(rec, None)
                return {"id": self.backend.insert(c, typ, rec)}

            return self._run_each(request, records, all_or_none, create)

        def update(c, rec):
            rid = rec.get("Id")
            if not rid:
                raise exc.MalformedId("Id not specified in an update call", ["Id"])
            return {"id": self.backend.update(c, self._type_of(rec, obj), rid, rec)}

        return self._run_each(request, records, all_or_none, update)

    def on_collections_upsert(self, request: Request, version: str, obj: str, field: str) -> Response:
        self._methods(request, "PATCH")
        records, all_or_none = self._records_body(request)
        o = self.backend.sobject(obj)
        f = o.get(field)
        if f is None or not (f.external_id or f.type == "id"):
            raise exc.InvalidField(f"Field name provided, {field} is not an External ID or indexed field for {o.name}")
        keys = [next((v for k, v in r.items() if k.lower() == f.name.lower()), None) for r in records]
        dupes = {k for k in keys if k is not None and keys.count(k) > 1}

        def upsert(c, pair):
            rec, key = pair
            if key in (None, "") and f.type == "id":
                # Upsert matching on Id: a blank Id inserts (an Id that is not found is an error, never a create).
                body = {k: v for k, v in rec.items() if k.lower() != "id"}
                return {"id": self.backend.insert(c, o.name, body), "created": True}
            if key is None:
                raise exc.RequiredFieldMissing(f"Required fields are missing: [{f.name}]", [f.name])
            if key in dupes:
                raise exc.DuplicateExternalId(
                    f"{f.name}: more than one record found for external id field: {key}", [f.name]
                )
            try:
                rid, created = self.backend.upsert(c, o.name, f.name, str(key), rec)
            except exc.MultipleRecords as e:
                raise exc.DuplicateExternalId(
                    f"{f.name}: more than one record found for external id field: {e.ids}", [f.name]
                ) from None
            return {"id": rid, "created": created}

        return self._run_each(request, list(zip(records, keys, strict=True)), all_or_none, upsert)

    def on_composite_batch(self, request: Request, version: str) -> Response:
        from .responses import json_response, read_json

        self._methods(request, "POST")
        body = read_json(request)
        subs = body.get("batchRequests") if isinstance(body, dict) else None
        if not isinstance(subs, list) or not subs:
            raise exc.JsonParserError('the body must be {"batchRequests": [{"method", "url"}, ...]}')
        if len(subs) > MAX_BATCH:
            raise exc.ExceededIdLimit(f"A batch can contain at most {MAX_BATCH} subrequests")
        if any(not isinstance(sub, dict) or not isinstance(sub.get("url"), str) for sub in subs):
            raise exc.JsonParserError('every batch request must be an object with "method" and "url"')
        halt = bool(body.get("haltOnError", False))
        results, has_errors = [], False
        for sub in subs:
            if has_errors and halt:
                results.append(
                    {
                        "statusCode": 412,
                        "result": [
                            {"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}
                        ],
                    }
                )
                continue
            url = str(sub.get("url", "")) if isinstance(sub, dict) else ""
            path = url if url.startswith("/services/data/") else "/services/data/" + url.lstrip("/")
            path, _, query = path.partition("?")
            builder = EnvironBuilder(
                path=path,
                query_string=query,
                method=str(sub.get("method", "GET")).upper(),
                headers={"Authorization": request.headers.get("Authorization", "")},
                data=json.dumps(sub["richInput"]) if sub.get("richInput") is not None else None,
                content_type="application/json",
                base_url=request.host_url,
            )
            resp = self.dispatch(Request(builder.get_environ()))
            data = resp.get_data()
            try:
                result = json.loads(data) if data else None
            except ValueError:
                result = data.decode("utf-8", "replace")
            has_errors = has_errors or resp.status_code >= 400
            results.append({"statusCode": resp.status_code, "result": result})
        return json_response({"hasErrors": has_errors, "results": results})
