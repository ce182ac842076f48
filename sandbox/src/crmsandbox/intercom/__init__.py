"""The Intercom emulator: a stateful WSGI service of the sandbox (see ``IntercomService``).

service = IntercomService(state_dir, load_dir)
app = service.wsgi_app()          # served over HTTPS by crmsandbox.server
service.connection_facts("https://127.0.0.1:8444")  # {"base_url", "token"}
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from crmsandbox.errors import SandboxInputError
from crmsandbox.intercom.loader import load_folder
from crmsandbox.intercom.models import IntercomBackend
from crmsandbox.intercom.ratelimit import IntercomRateLimiter
from crmsandbox.intercom.responses import SUPPORTED_VERSIONS, IntercomApp
from crmsandbox.intercom.store import Store, load_folder_fingerprint

__all__ = ["IntercomService", "SUPPORTED_VERSIONS"]

SMALL_DUMP = 200


class IntercomService:
    """The Intercom half of the sandbox: SQLite state, rate limiting and the WSGI app.

    ``state_dir``: where the SQLite file lives (kept across restarts; a temporary
    folder when None). ``load_dir``: a load folder (``DIR/intercom/...``); it is
    loaded when the state dir does not already hold exactly that folder's data.
    ``clock``: Unix seconds, injectable (rate-limit windows, timestamps, scroll expiry).
    """

    name = "intercom"

    def __init__(
        self,
        state_dir: Path | None = None,
        load_dir: Path | None = None,
        *,
        default_version: str = "2.11",
        rate_limit_per_minute: int | None = 10_000,
        clock: Callable[[], float] = time.time,
        timezone: str = "UTC",
        token: str | None = None,
    ) -> None:
        if default_version not in SUPPORTED_VERSIONS:
            raise SandboxInputError(
                f"Intercom default version {default_version!r} is not supported",
                hint=f"use one of {', '.join(SUPPORTED_VERSIONS)}",
            )
        self.clock = clock
        self.default_version = default_version
        self.store = Store(Path(state_dir) if state_dir else None)
        previous_token = self.store.get_meta("token")
        self.token = token or previous_token or "ic-sandbox-" + secrets.token_urlsafe(24)
        fingerprint = load_folder_fingerprint(Path(load_dir)) if load_dir else None
        reuse = self.store.is_loaded() and (
            fingerprint is None or self.store.get_meta("load_fingerprint") == fingerprint
        )
        if not reuse:
            self.load_counts = load_folder(
                self.store, load_dir, now=int(clock()), app_id="sbx1c0m9", fingerprint=fingerprint or "empty"
            )
        if not reuse or self.store.get_meta("token") != self.token or not self.store.baseline.exists():
            with self.store.transaction() as db:
                self.store.set_meta(db, "token", self.token)
            self.store.save_baseline()
        self.backend = IntercomBackend(self.store, self._now, timezone=timezone)
        self.limiter = IntercomRateLimiter(rate_limit_per_minute, self._now)
        self._app = IntercomApp(self.backend, self.limiter, lambda: (self.token,), lambda: self.default_version)

    def _now(self) -> float:
        return self.clock()  # indirection: the server may swap the clock at run time

    # -- SandboxService protocol -----------------------------------------------------------------------
    def wsgi_app(self) -> IntercomApp:
        return self._app

    def reset(self) -> None:
        """Back to the loaded state: data, rate-limit windows and the open scroll."""
        self.store.restore_baseline()
        self.limiter.reset()
        self.backend._interleaved.clear()
        self._app.rate_limited = 0
        self.backend.reset_scroll()

    def dump(self) -> dict:
        """Counts of every kind of record; the contacts themselves when the workspace is small."""
        with self.store.connection() as db:
            q = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
            out = {
                "contacts": q("SELECT count(*) FROM contacts WHERE archived = 0 AND merged_into IS NULL"),
                "contacts_archived": q("SELECT count(*) FROM contacts WHERE archived = 1"),
                "contacts_merged": q("SELECT count(*) FROM contacts WHERE merged_into IS NOT NULL"),
                "companies": q("SELECT count(*) FROM companies"),
                "conversations": q("SELECT count(*) FROM conversations"),
                "tags": q("SELECT count(*) FROM tags"),
                "admins": q("SELECT count(*) FROM admins"),
                "notes": q("SELECT count(*) FROM notes"),
                "segments": q("SELECT count(*) FROM segments"),
                "data_attributes": q("SELECT count(*) FROM data_attributes WHERE custom = 1"),
                "rate_limit_per_minute": self.limiter.per_minute,
                "default_version": self.default_version,
                "writes": dict(db.execute("SELECT key, n FROM write_counts ORDER BY key").fetchall()),
                "429": self._app.rate_limited,  # calls answered 429 by the rate limit (not injected faults)
            }
            if out["contacts"] + out["contacts_archived"] + out["contacts_merged"] <= SMALL_DUMP:
                out["records"] = {
                    "contacts": [json.loads(d) for (d,) in db.execute("SELECT doc FROM contacts ORDER BY seq")],
                    "companies": [json.loads(d) for (d,) in db.execute("SELECT doc FROM companies ORDER BY seq")],
                }
        return out

    def connection_facts(self, base_url: str) -> dict:
        return {"base_url": base_url.rstrip("/"), "token": self.token}

    # -- control hooks ---------------------------------------------------------------------------------
    def set_rate_limit(self, per_minute: int | None) -> None:
        """Change the per-minute budget at run time; None lifts the limit."""
        self.limiter.set_limit(per_minute)

    def control_rate_limit(
        self, per_minute: int | None = None, per_window: int | None = None, window_s: float = 10
    ) -> dict:
        """Control API: POST /__sandbox__/service/intercom/rate_limit {"per_minute": N | null}.

        Tests may shorten the windows: ``{"per_window": 8, "window_s": 1}`` allows 8 calls a second.
        """
        if per_window is not None:
            if isinstance(per_window, bool) or not isinstance(per_window, int) or per_window < 1:
                raise ValueError(f"per_window must be a positive whole number, got {per_window!r}")
            per_minute = max(1, round(per_window * 60 / window_s))
        self.limiter.set_limit(per_minute, window_s=window_s)
        return {
            "rate_limit_per_minute": self.limiter.per_minute,
            "per_window": self.limiter.per_window,
            "window_s": self.limiter.window_s,
        }

    def control_contact(self, id: str) -> dict | None:  # noqa: A002 - the control API's argument name
        """POST .../contact {id}: the contact as 2.16 renders it, or None."""
        from crmsandbox.intercom.exceptions import IntercomError

        try:
            return self.backend.get_contact(str(id), "2.16")[0]
        except IntercomError:
            return None

    def control_touch(self, id: str, fields: dict) -> dict:  # noqa: A002
        """POST .../touch {id, fields}: someone else edits the contact now (its updated_at moves)."""
        from crmsandbox.intercom.exceptions import IntercomError

        if not isinstance(fields, dict):
            raise ValueError("fields must be an object of contact fields")
        try:
            contact = self.backend.update_contact(str(id), dict(fields), "2.16")[0]
        except IntercomError as e:
            raise ValueError(f"{e.code}: {e.message}") from None
        with self.store.transaction() as db:  # not a write of the client under test
            self.backend.count_write(db, str(contact["id"]), -1)
        return contact

    def control_interleave(self, id: str, fields: dict) -> dict:  # noqa: A002
        """POST .../interleave {id, fields}: another writer's change lands just before the next PUT of it."""
        if not isinstance(fields, dict):
            raise ValueError("fields must be an object of contact fields")
        self.backend.interleave(str(id), fields)
        return {"ok": True}

    def close(self) -> None:
        self.store.close()
