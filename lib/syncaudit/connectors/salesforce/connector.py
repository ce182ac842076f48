"""The one Salesforce connector: reads (pull, preflight) and writes (apply, verify, rollback) alike.

It owns the session (every login flow, :mod:`.auth`), the API version, retries with backoff and jitter on 5xx,
429 and dropped connections, a new login on INVALID_SESSION_ID (also for the direct session-id constructor,
which simple-salesforce never refreshes), the API allocation guard fed by the ``Sforce-Limit-Info`` header of
every response, and the org's facts (id, IsSandbox). simple-salesforce serves REST reads
(:meth:`SalesforceConnector.call`); plain requests serve Bulk API 2.0 and the writers
(:meth:`SalesforceConnector.request`, :meth:`SalesforceConnector.send`).

A write whose answer is lost (connection dropped, 500/502) is *in doubt*: :meth:`send` never re-sends it and
raises :class:`InDoubt`, so the apply engine reads the records to learn whether it landed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)
from simple_salesforce.util import exception_handler

from syncaudit.connectors.http import TRANSIENT_EXCEPTIONS, Backoff, CallCounter
from syncaudit.connectors.salesforce.auth import SalesforceAuthenticator
from syncaudit.errors import FatalAPIError, QuotaExhaustedError, RetriableAPIError

T = TypeVar("T")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class InDoubt(Exception):
    """A write may have been applied: its answer was lost (connection dropped, 500/502)."""


@dataclass(frozen=True)
class OrgFacts:
    """What the connector learns about the org at connect: its id, name, and whether it is a sandbox."""

    org_id: str
    name: str
    is_sandbox: bool
    org_type: str
    instance_url: str


API_DISABLED = "API_DISABLED_FOR_ORG"
MAX_RENEWALS = 3  # fresh sessions refused in a row before a call gives up


def api_disabled_error(msg: str) -> FatalAPIError:
    return FatalAPIError(
        f"Salesforce refused the API: the integration user has no API access ({API_DISABLED}: {msg})",
        status=403,
        code=API_DISABLED,
        system="salesforce",
        hint="give the user the 'API Enabled' permission (profile or permission set); Essentials/Professional "
        "editions need the API add-on",
    )


def _first_error(content: Any) -> tuple[str | None, str]:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode"), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return content.get("errorCode") or content.get("error"), str(content.get("message", ""))
    return None, str(content)[:300]


class SalesforceConnector:
    """One org connection for reads and writes. Thread-safe for concurrent calls."""

    def __init__(
        self,
        auth: SalesforceAuthenticator,
        http: requests.Session,
        *,
        api_version: str = "59.0",
        quota_max_share: float = 0.8,
        backoff: Backoff | None = None,
    ) -> None:
        self.auth = auth
        self.http = http
        self.api_version = api_version
        self.quota_max_share = quota_max_share
        self.backoff = backoff or Backoff()
        self.counter = CallCounter()
        self.usage: tuple[int, int] | None = None
        self.relogins = 0
        self._lock = threading.Lock()
        self._sf: Salesforce | None = None
        self._token_gen = 0
        self._org: OrgFacts | None = None
        # describe results of this run, shared by preflight and the streams (one call per object per run)
        self._describes: dict[str, dict[str, Any] | FatalAPIError] = {}
        self._describe_lock = threading.Lock()
        http.hooks["response"].append(self._on_response)

    # -- session

    def _on_response(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        if "/services/oauth2/" in resp.url:
            return  # logins do not count against the API allocation
        self.counter.add("salesforce")
        m = _LIMIT_INFO.search(resp.headers.get("Sforce-Limit-Info", ""))
        if m:
            self.usage = (int(m.group(1)), int(m.group(2)))

    @property
    def sf(self) -> Salesforce:
        with self._lock:
            if self._sf is None:
                self._login_locked()
            assert self._sf is not None
            return self._sf

    def _login_locked(self) -> None:
        session = self.auth.login()
        self._sf = Salesforce(
            instance_url=session.instance_url,
            session_id=session.access_token,
            session=self.http,
            version=self.api_version,
            object_pairs_hook=dict,  # plain dicts: OrderedDict costs time on big pages
        )
        self._token_gen += 1

    def _relogin(self, seen_gen: int) -> None:
        with self._lock:
            if self._token_gen == seen_gen:  # another thread may have renewed it already
                if not self.auth.can_refresh and self._sf is not None:
                    self.auth.login()  # raises the clear "cannot renew a session id" error
                self._login_locked()
                self.relogins += 1

    @property
    def instance_url(self) -> str:
        return "https://" + self.sf.sf_instance

    def data_url(self, path: str) -> str:
        return f"{self.instance_url}/services/data/v{self.api_version}/{path.lstrip('/')}"

    # -- guard

    def check_quota(self) -> None:
        if self.usage is None:
            return
        used, limit = self.usage
        if limit > 0 and used >= limit * self.quota_max_share:
            raise QuotaExhaustedError(
                f"Salesforce API allocation guard: {used} of {limit} daily calls used "
                f"(pull.quota_max_share = {self.quota_max_share}); stopped before spending more",
                status=None,
                code="QUOTA_GUARD",
                system="salesforce",
                hint="the pull is resumable: run the same command after the 24-hour allocation recovers "
                "(finished objects are kept), or raise pull.quota_max_share",
            )

    # -- calls

    def call(self, fn: Callable[[Salesforce], T], what: str) -> T:
        """Run ``fn(sf)`` (a simple-salesforce call) with retries, re-login and the quota guard."""
        attempt = 0
        while True:
            self.check_quota()
            gen = self._token_gen
            sf = self.sf
            try:
                return fn(sf)
            except SalesforceExpiredSession:
                self._relogin(gen)
                continue  # a new session is not a failed attempt
            except SalesforceRefusedRequest as exc:
                code, msg = _first_error(exc.content)
                if code == API_DISABLED:
                    raise api_disabled_error(msg) from None
                if code == "REQUEST_LIMIT_EXCEEDED":
                    raise QuotaExhaustedError(
                        f"Salesforce refused {what}: the daily API allocation is spent ({msg})",
                        status=403,
                        code=code,
                        system="salesforce",
                        hint="run the same pull again when the 24-hour allocation recovers; finished objects are kept",
                    ) from None
                raise FatalAPIError(
                    f"Salesforce refused {what}: {code} {msg}", status=403, code=code, system="salesforce"
                ) from None
            except SalesforceError as exc:
                status = getattr(exc, "status", 0) or 0
                code, msg = _first_error(getattr(exc, "content", None))
                if status >= 500 or status == 429:
                    err = RetriableAPIError(f"{status} {code}", status=status, code=code, system="salesforce")
                    self.backoff.wait(attempt, err, f"Salesforce {what}")
                    attempt += 1
                    continue
                raise FatalAPIError(
                    f"Salesforce {what} failed: {status} {code}: {msg}",
                    status=status,
                    code=code,
                    system="salesforce",
                    hint="check the object and field names in the config against the org's describe",
                ) from None
            except TRANSIENT_EXCEPTIONS as exc:
                self._wait_or_unreachable(attempt, exc, f"Salesforce {what} ({self.host})")
                attempt += 1

    def request(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        """A raw REST/Bulk call under ``/services/data/vNN.N/`` with the same protections as :meth:`call`."""

        extra_headers = kwargs.pop("headers", None) or {}

        def do(sf: Salesforce) -> requests.Response:
            headers = {"Authorization": f"Bearer {sf.session_id}", **extra_headers}
            resp = self.http.request(method, self.data_url(path), headers=headers, **kwargs)
            if resp.status_code >= 300:
                exception_handler(resp, name=what)  # the simple-salesforce exception for the status
            return resp

        return self.call(do, what)

    def api_calls(self) -> int:
        return self.counter.total

    @property
    def host(self) -> str:
        with self._lock:
            if self._sf is not None:
                return self._sf.sf_instance
        return self.auth.creds.token_url.split("/")[2] if "://" in self.auth.creds.token_url else "Salesforce"

    def _wait_or_unreachable(self, attempt: int, exc: BaseException, what: str) -> None:
        """Back off; once the attempts are spent, a host that never answered is named as unreachable."""
        try:
            self.backoff.wait(attempt, exc, what)
        except RetriableAPIError:
            if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
                raise FatalAPIError(
                    f"cannot reach the Salesforce host {self.host} ({type(exc).__name__})",
                    code="UNREACHABLE",
                    system="salesforce",
                    hint="check the network, proxy and firewall, and salesforce.instance_url",
                ) from None
            raise

    # -- writes (and the writers' reads)

    def send(self, method: str, path: str, *, write: bool = False, **kw: Any) -> requests.Response:
        """One raw call for a writer: ``path`` under the instance (``/services/data/...``) or a full URL.

        Re-authenticates on 401, waits out 503 (nothing was processed), retries 500/502 and dropped connections
        for reads only: for a ``write`` they raise :class:`InDoubt`. 403 REQUEST_LIMIT_EXCEEDED and the
        allocation guard raise :class:`QuotaExhaustedError`; any other error status is a FatalAPIError naming
        the error code (per-record results come back in a 200 body)."""
        kw.setdefault("timeout", None)  # the session's adapter applies the configured timeout
        extra = kw.pop("headers", None) or {}
        attempt = renewed = 0
        while True:
            self.check_quota()
            gen = self._token_gen
            sf = self.sf
            url = path if path.startswith("https://") else f"https://{sf.sf_instance}{path}"
            headers = {"Authorization": f"Bearer {sf.session_id}", **extra}
            try:
                r = self.http.request(method, url, headers=headers, **kw)
            except TRANSIENT_EXCEPTIONS as exc:
                if write:
                    raise InDoubt(f"connection lost: {type(exc).__name__}") from None
                self._wait_or_unreachable(attempt, exc, f"Salesforce {method} ({self.host})")
                attempt += 1
                continue
            if r.status_code == 401:
                renewed += 1
                if renewed > MAX_RENEWALS:
                    raise FatalAPIError(
                        f"Salesforce refused {renewed} fresh sessions in a row for {method} {path.split('?')[0]}",
                        status=401,
                        code="INVALID_SESSION_ID",
                        system="salesforce",
                        hint="the session is revoked as soon as it is made: check the connected app's session "
                        "policies (IP relaxation, high-assurance sessions) and the user's login IP ranges",
                    )
                self._relogin(gen)
                continue  # nothing was processed under an expired session
            if r.status_code == 503 or r.status_code == 429 or (r.status_code in (500, 502) and not write):
                err = RetriableAPIError(f"HTTP {r.status_code}", status=r.status_code, system="salesforce")
                self.backoff.wait(attempt, err, f"Salesforce {method} {path.split('?')[0]}")
                attempt += 1
                continue
            if r.status_code in (500, 502):
                raise InDoubt(f"HTTP {r.status_code}")
            if r.status_code >= 400:
                code, msg = _first_error(_json_or_text(r))
                if code == "REQUEST_LIMIT_EXCEEDED":
                    raise QuotaExhaustedError(
                        "the Salesforce daily API allocation is spent",
                        status=403,
                        code=code,
                        system="salesforce",
                        hint="run the command again when the 24-hour allocation recovers; apply resumes where it "
                        "stopped",
                    )
                if code == API_DISABLED:
                    raise api_disabled_error(msg)
                raise FatalAPIError(
                    f"Salesforce refused {method} {path.split('?')[0]}: {code or r.status_code} {msg}".rstrip(),
                    status=r.status_code,
                    code=code or str(r.status_code),
                    system="salesforce",
                )
            return r

    # -- org facts

    def org(self) -> OrgFacts:
        """The org's id, name and IsSandbox, read once per connector (one query)."""
        if self._org is None:
            res = self.call(
                lambda sf: sf.query("SELECT Id, Name, IsSandbox, OrganizationType FROM Organization"),
                "read the Organization",
            )
            rows = res.get("records") or []
            if not rows:
                raise FatalAPIError(
                    "Salesforce returned no Organization record",
                    system="salesforce",
                    hint="the integration user needs 'View Setup and Configuration' to read the Organization",
                )
            row = rows[0]
            self._org = OrgFacts(
                org_id=str(row.get("Id") or ""),
                name=str(row.get("Name") or ""),
                is_sandbox=bool(row.get("IsSandbox")),
                org_type=str(row.get("OrganizationType") or ""),
                instance_url=self.instance_url,
            )
        return self._org

    def limits(self) -> dict[str, Any]:
        """``/limits`` (DailyApiRequests and the rest)."""
        return self.request("GET", "limits", "read the API limits").json()

    def forget_describes(self) -> None:
        """Start a new run: describe each object afresh on its next use (a field may have been added)."""
        with self._describe_lock:
            self._describes.clear()

    def describe_object(self, obj: str) -> dict[str, Any]:
        """The object's describe, read once per run (see :meth:`forget_describes`) and shared by every caller;
        raises the API's error when the object is missing or not visible (that answer is kept for the run too)."""
        with self._describe_lock:
            hit = self._describes.get(obj)
        if hit is None:
            try:
                hit = self.call(lambda sf: getattr(sf, obj).describe(), f"describe {obj}")
            except FatalAPIError as exc:
                if not (exc.status in (403, 404) or exc.code in ("NOT_FOUND", "INVALID_TYPE")):
                    raise  # not an answer about the object: do not keep it
                hit = exc
            with self._describe_lock:
                hit = self._describes.setdefault(obj, hit)
        if isinstance(hit, FatalAPIError):
            raise hit
        return hit

    def describe(self, obj: str) -> dict[str, Any] | None:
        """The object's describe, or None when the user cannot see the object (cached as describe_object)."""
        try:
            return self.describe_object(obj)
        except FatalAPIError as exc:
            if exc.status == 404 or exc.code in ("NOT_FOUND", "INVALID_TYPE"):
                return None
            raise


def _json_or_text(r: requests.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text[:300]
