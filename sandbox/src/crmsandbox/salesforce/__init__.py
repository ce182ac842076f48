"""The Salesforce sandbox: a stateful emulator of the REST, Bulk API 2.0, OAuth and SOAP-login surface.

``SalesforceService`` implements the sandbox service protocol (sandbox/service.py): ``wsgi_app()``,
``reset()``, ``dump()`` and ``connection_facts(base_url)``. The shared server adds TLS, faults, latency,
the request log and the control API around it.

Where it differs from Salesforce: one org, one API user; no sharing rules, triggers or validation rules;
duplicate rules only as exact matches declared in the load folder's ``salesforce/duplicate_rules.json``
(duplicates.py); deletes do not cascade (an Account's Contacts stay) and the recycle bin is never emptied;
unordered query cursors page over the live table (rows written after a query started may show up); Bulk 2.0
query jobs are complete at once and ingest jobs run when the upload is marked complete; JWT signatures are not
checked; no SOSL, Bulk API v1 or lead conversion call (load converted leads); parent-to-child subqueries
run one query per parent record (fine for REST pages, refused by Bulk as in Salesforce).

Storage is one SQLite file (``<state_dir>/salesforce.sqlite``); with a state dir it survives a restart (the load
folder is read only when the database is new, and its schema.json is kept inside). REST query pages are
rendered to JSON by SQLite itself; Bulk query results stream as CSV from SQLite cursors.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import auth as creds
from .auth import Authority
from .bulk import BulkJobs
from .bulk_v1 import BulkV1
from .models import ADMIN_USERNAME, SalesforceBackend
from .query import QueryEngine
from .soql_sql import find_object

DB_NAME = "salesforce.sqlite"


class SalesforceService:
    """One Salesforce sandbox org behind a WSGI app."""

    name = "salesforce"

    def __init__(
        self,
        state_dir: Path | None = None,
        load_dir: Path | None = None,
        *,
        token_lifetime_s: float = 7200,
        daily_api_limit: int = 15000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``clock`` returns epoch seconds (default ``time.time``); tests pass one they can move."""
        self.clock = clock or time.time
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sf-sandbox-")
            state_dir = Path(self._tmp.name)
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.backend = SalesforceBackend(state_dir / DB_NAME, Path(load_dir) if load_dir else None, self.clock)
        self.auth = Authority(self.backend.store, self.backend.org_id, self.clock, token_lifetime_s, daily_api_limit)
        self.engine = QueryEngine(self.backend)
        self.bulk = BulkJobs(self.backend, self.engine)
        self.bulk_v1 = BulkV1(self.bulk)
        self._refresh_token: str | None = None
        self._app = None

    def wsgi_app(self):
        """The WSGI application (sets ``environ['crmsandbox.records']`` for the request log)."""
        from .responses import SalesforceApp

        if self._app is None:
            self._app = SalesforceApp(self)
        return self._app

    # -- control operations for tests: read and change records the way another user would
    def control_record(self, obj: str, id: str) -> dict | None:  # noqa: A002 - the control API's argument name
        """POST /__sandbox__/service/salesforce/record {obj, id}: the record as REST returns it, or None."""
        from .exceptions import SalesforceError

        try:
            return self.backend.get(obj, id, "59.0")
        except SalesforceError:
            return None

    def control_find(self, obj: str, field: str, value: object) -> list[dict]:
        """POST .../find {obj, field, value}: the live records whose field equals value."""
        o = self.backend.sobject(obj)
        f = o.get(field)
        if f is None:
            raise ValueError(f"{obj} has no field {field!r}")
        rows = self.backend.store.conn().execute(
            f'SELECT "Id" FROM "{o.name}" WHERE "{f.name}" = ? AND "IsDeleted" = 0', (value,)
        )
        return [self.backend.get(o.name, r[0], "59.0") for r in rows.fetchall()]

    def control_touch(self, obj: str, id: str, fields: dict) -> dict:  # noqa: A002
        """POST .../touch {obj, id, fields}: someone else edits the record now (its SystemModstamp moves)."""
        from .exceptions import SalesforceError

        if not isinstance(fields, dict):
            raise ValueError("fields must be an object of field values")
        try:
            with self.backend.store.write() as c:
                rid = self.backend.update(c, obj, id, fields)
                key = f"{self.backend.sobject(obj).name}/{rid}"  # not a write of the client under test
                c.execute("UPDATE _writes SET n = n - 1 WHERE key = ?", (key,))
                c.execute("DELETE FROM _writes WHERE n <= 0")
            return self.backend.get(obj, rid, "59.0")
        except SalesforceError as e:
            raise ValueError(f"{e.code}: {e.message}") from None

    def set_cost_model(self, cost) -> None:
        """The sandbox's cost model: Bulk API 2.0 jobs stay InProgress for their processing time."""
        self.bulk.cost = cost

    def reset(self) -> None:
        """Back to the loaded state: tables reloaded from the load folder; tokens and cursors forgotten."""
        self.engine.forget()
        self.bulk._cursors.clear()
        self.auth.forget_cache()
        self._refresh_token = None
        self.backend.load()

    def dump(self) -> dict:
        """Counts per object (live and deleted), API usage, jobs."""
        conn = self.backend.store.conn()
        objects = {}
        for name in self.backend.objs:
            live, deleted = (
                conn.execute(
                    f'SELECT COUNT(*) - COALESCE(SUM("IsDeleted"), 0), COALESCE(SUM("IsDeleted"), 0) FROM "{name}"'
                ).fetchone()
                if name != "Organization"
                else (1, 0)
            )
            objects[name] = {"records": live, "deleted": deleted}
        jobs = conn.execute("SELECT COUNT(*) FROM _jobs").fetchone()[0]
        return {
            "objects": objects,
            "writes": self.backend.write_counts(),  # "Object/Id" -> times written (insert, update, delete)
            "api_usage": {"used": self.auth.used, "limit": self.auth.daily_limit},
            "bulk_jobs": jobs,
            "loaded_at": self.backend.store.get_meta("loaded"),
        }

    def connection_facts(self, base_url: str) -> dict:
        """instance_url, token_url, client credentials, username/password and a ready access token."""
        base = base_url.rstrip("/")
        if self._refresh_token is None:
            self._refresh_token = self.auth.mint("refresh")
        return {
            "instance_url": base,
            "token_url": f"{base}/services/oauth2/token",
            "login_url": base,
            "client_id": creds.CLIENT_ID,
            "client_secret": creds.CLIENT_SECRET,
            "username": ADMIN_USERNAME,
            "password": creds.PASSWORD,
            "security_token": creds.SECURITY_TOKEN,
            "session_id": self.auth.mint("access"),
            "refresh_token": self._refresh_token,
            "api_version": "59.0",
            "org_id": self.backend.org_id,
            "user_id": self.backend.admin_id,
        }

    # -- control operations: POST /__sandbox__/service/salesforce/<op> {kwargs} ---------------------------
    def control_api_usage(self, used: int | None = None, daily: int | None = None) -> dict:
        """Set the API calls used today and/or the daily allocation; answers both."""
        for name, v in (("used", used), ("daily", daily)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise ValueError(f"{name} must be a non-negative integer, not {v!r}")
        self.auth.set_usage(used, daily)
        return {"used": self.auth.used, "daily": self.auth.daily_limit}

    def control_expire_sessions(self) -> dict:
        """End every live access token now, as a session timeout would; refresh tokens stay valid."""
        return {"expired": self.auth.expire_access_tokens()}

    def control_token_lifetime(self, seconds: float) -> dict:
        """Lifetime of access tokens minted from now on."""
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
            raise ValueError(f"seconds must be a positive number, not {seconds!r}")
        self.auth.lifetime = float(seconds)
        return {"token_lifetime_s": self.auth.lifetime}

    def control_login_failure(self, mode: str | None = None) -> dict:
        """Refuse every login as Salesforce does for a mode (``ip_restricted``), or None to stop."""
        if mode not in (None, "ip_restricted"):
            raise ValueError(f"mode must be 'ip_restricted' or null, not {mode!r}")
        self.auth.login_failure = mode
        return {"login_failure": mode}

    def control_api_access(self, enabled: bool = True) -> dict:
        """Switch the user's API access: without it REST calls answer 403 API_DISABLED_FOR_ORG."""
        if not isinstance(enabled, bool):
            raise ValueError(f"enabled must be true or false, not {enabled!r}")
        self.auth.api_disabled = not enabled
        return {"api_enabled": enabled}

    def control_jwt_certificate(self, pem: str | None = None) -> dict:
        """Upload the connected app's certificate (PEM): JWT bearer assertions must then be signed by its key
        while it is valid. None stops checking signatures."""
        if pem is not None and "BEGIN CERTIFICATE" not in str(pem):
            raise ValueError("pem must be a PEM certificate or null")
        self.auth.jwt_certificate = pem
        return {"jwt_certificate": pem is not None}

    def control_object_access(self, obj: str, readable: bool = True) -> dict:
        """Take the user's permission to read ``obj`` away (``readable`` false) or give it back. Without it the
        object is absent from describe, its describe answers 404 NOT_FOUND and SOQL on it INVALID_TYPE, as
        Salesforce answers a user whose profile lacks Read on it."""
        if not isinstance(readable, bool):
            raise ValueError(f"readable must be true or false, not {readable!r}")
        o = find_object(self.backend.objs, str(obj))
        (self.backend.hidden.discard if readable else self.backend.hidden.add)(o.name)
        return {"object": o.name, "readable": readable}

    def control_organization(self, is_sandbox: bool = True) -> dict:
        """Make the org a sandbox (IsSandbox true, the default) or a production org."""
        if not isinstance(is_sandbox, bool):
            raise ValueError(f"is_sandbox must be true or false, not {is_sandbox!r}")
        with self.backend.store.write() as c:
            c.execute('UPDATE "Organization" SET "IsSandbox" = ?', (1 if is_sandbox else 0,))
        return {"org_id": self.backend.org_id, "is_sandbox": is_sandbox}

    def close(self) -> None:
        self.backend.store.close()
