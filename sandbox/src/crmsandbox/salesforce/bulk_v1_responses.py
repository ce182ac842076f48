"""The HTTP layer of Bulk API 1.0 (``/services/async/<version>/...``), a mixin of SalesforceApp.

The async API has its own error shape (``<error><exceptionCode>``, or JSON when the job is JSON) and its
own session header (``X-SFDC-Session``); it is routed here as one endpoint and dispatched below.
"""

from __future__ import annotations

import re

from werkzeug.wrappers import Request, Response

from . import exceptions as exc
from .bulk_v1 import AsyncError, parse_job_request, render

_ROUTES = [
    (re.compile(r"^job$"), "job_create"),
    (re.compile(r"^job/(?P<job>[^/]+)$"), "job"),
    (re.compile(r"^job/(?P<job>[^/]+)/batch$"), "batches"),
    (re.compile(r"^job/(?P<job>[^/]+)/batch/(?P<batch>[^/]+)$"), "batch"),
    (re.compile(r"^job/(?P<job>[^/]+)/batch/(?P<batch>[^/]+)/request$"), "request"),
    (re.compile(r"^job/(?P<job>[^/]+)/batch/(?P<batch>[^/]+)/result$"), "result"),
    (re.compile(r"^job/(?P<job>[^/]+)/batch/(?P<batch>[^/]+)/result/(?P<result>[^/]+)$"), "query_result"),
]


def _wants_json(request: Request) -> bool:
    ctype = request.headers.get("Content-Type", "").lower()
    return "json" in ctype or "json" in request.headers.get("Accept", "").lower()


class AsyncRoutes:
    """Bulk API 1.0 endpoints; expects ``self.auth``, ``self.bulk_v1`` (see SalesforceApp)."""

    def on_async(self, request: Request, version: str, rest: str) -> Response:
        as_json = _wants_json(request)
        try:
            token = request.headers.get("X-SFDC-Session") or self._token(request)  # type: ignore[attr-defined]
            try:
                self.auth.check(token)  # type: ignore[attr-defined]
            except exc.InvalidSessionId:
                raise AsyncError("InvalidSessionId", "Invalid session id", 400) from None
            self.auth.count_call()  # type: ignore[attr-defined]
            for rx, name in _ROUTES:
                m = rx.match(rest.strip("/"))
                if m:
                    return getattr(self, f"_async_{name}")(request, version, as_json, **m.groupdict())
            raise AsyncError("InvalidUrl", f"Unknown Bulk API resource: /services/async/{version}/{rest}", 404)
        except AsyncError as e:
            body, ctype = render("error", (e.code, e.message), as_json)
            return Response(body, status=e.status, content_type=ctype)

    def _async_methods(self, request: Request, *allowed: str) -> None:
        if request.method not in allowed:
            raise AsyncError(
                "InvalidUrl", f"HTTP method {request.method} is not allowed here; use {'/'.join(allowed)}", 405
            )

    def _async_job_create(self, request: Request, version: str, as_json: bool) -> Response:
        self._async_methods(request, "POST")
        fields = parse_job_request(request.get_data(), as_json)
        as_json = as_json or str(fields.get("contentType", "")).upper() == "JSON"
        info = self.bulk_v1.create_job(fields, version, request.headers.get("Sforce-Enable-PKChunking"))  # type: ignore[attr-defined]
        body, ctype = render("jobInfo", info, as_json)
        return Response(body, status=201, content_type=ctype)

    def _job_is_json(self, job: str) -> bool:
        return self.bulk_v1.job(job)["contentType"] == "JSON"  # type: ignore[attr-defined]

    def _async_job(self, request: Request, version: str, as_json: bool, job: str) -> Response:
        self._async_methods(request, "GET", "POST")
        as_json = as_json or self._job_is_json(job)
        if request.method == "GET":
            info = self.bulk_v1.job(job)  # type: ignore[attr-defined]
        else:
            info = self.bulk_v1.set_state(job, parse_job_request(request.get_data(), as_json))  # type: ignore[attr-defined]
        body, ctype = render("jobInfo", info, as_json)
        return Response(body, content_type=ctype)

    def _async_batches(self, request: Request, version: str, as_json: bool, job: str) -> Response:
        self._async_methods(request, "GET", "POST")
        as_json = self._job_is_json(job)
        if request.method == "GET":
            body, ctype = render("batchInfoList", self.bulk_v1.batches(job), as_json)  # type: ignore[attr-defined]
            return Response(body, content_type=ctype)
        info = self.bulk_v1.add_batch(job, request.get_data(), exc.record_fault(request.environ))  # type: ignore[attr-defined]
        request.environ["crmsandbox.records"] = self.bulk_v1.batch(job, info["id"]).get("numberRecordsProcessed", 0)  # type: ignore[attr-defined]
        body, ctype = render("batchInfo", info, as_json)
        return Response(body, status=201, content_type=ctype)

    def _async_batch(self, request: Request, version: str, as_json: bool, job: str, batch: str) -> Response:
        self._async_methods(request, "GET")
        body, ctype = render("batchInfo", self.bulk_v1.batch(job, batch), self._job_is_json(job))  # type: ignore[attr-defined]
        return Response(body, content_type=ctype)

    def _async_request(self, request: Request, version: str, as_json: bool, job: str, batch: str) -> Response:
        self._async_methods(request, "GET")
        return Response(self.bulk_v1.request_data(job, batch), content_type="text/plain")  # type: ignore[attr-defined]

    def _async_result(self, request: Request, version: str, as_json: bool, job: str, batch: str) -> Response:
        self._async_methods(request, "GET")
        v1 = self.bulk_v1  # type: ignore[attr-defined]
        info = v1.job(job)
        if info["operation"] in ("query", "queryAll"):
            body, ctype = render("result-list", v1.result_ids(job, batch), info["contentType"] == "JSON")
            return Response(body, content_type=ctype)
        body, ctype = v1.ingest_result(job, batch)
        request.environ["crmsandbox.records"] = v1.batch(job, batch).get("numberRecordsProcessed", 0)
        return Response(body, content_type=ctype)

    def _async_query_result(
        self, request: Request, version: str, as_json: bool, job: str, batch: str, result: str
    ) -> Response:
        self._async_methods(request, "GET")
        body, ctype = self.bulk_v1.query_result(job, batch, result, version)  # type: ignore[attr-defined]
        request.environ["crmsandbox.records"] = self.bulk_v1.batch(job, batch).get("numberRecordsProcessed", 0)  # type: ignore[attr-defined]
        return Response(body, content_type=ctype)
