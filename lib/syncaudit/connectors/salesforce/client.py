"""The Salesforce client: simple-salesforce for REST, plain requests for Bulk API 2.0.

Every call goes through :meth:`SalesforceClient.call` or :meth:`SalesforceClient.request`,
which add what simple-salesforce lacks: retries with backoff and jitter on 5xx,
429 and dropped connections; a new login on INVALID_SESSION_ID (also for the
direct session-id constructor, which simple-salesforce never refreshes); and a
quota guard fed by the ``Sforce-Limit-Info`` header of every response.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
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


class _Expired(Exception):
    """Internal: the session expired; log in again and repeat the call."""


def _first_error(content: Any) -> tuple[str | None, str]:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode"), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return content.get("errorCode") or content.get("error"), str(content.get("message", ""))
    return None, str(content)[:300]


class SalesforceClient:
    """One org connection. Thread-safe for concurrent calls."""

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
                self.backoff.wait(attempt, exc, f"Salesforce {what}")
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
