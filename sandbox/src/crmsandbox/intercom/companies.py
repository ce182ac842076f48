"""Companies, workspace tags and contact↔company links (a mixin of IntercomBackend).

Differences from the real service: list endpoints hide companies without
contacts (configurable, as Intercom documents it) and so does the scroll
(unverified upstream); the 10,000-record cap answers 400 bad_request. A scroll
whose request the sandbox server failed with an injected 5xx ends (it cannot
be resumed, as upstream): see ``IntercomApp.injected_fault``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections import defaultdict

from crmsandbox.intercom import catalog
from crmsandbox.intercom.documents import (
    COMPANY_WRITABLE,
    dumps,
    normalize_company,
    render_company,
    version_tuple,
)
from crmsandbox.intercom.exceptions import (
    BadRequest,
    CompanyNotFound,
    ContactCompanyLimitExceeded,
    NotFound,
    ParameterInvalid,
    ParameterNotFound,
    ScrollExists,
)
from crmsandbox.intercom.loader import COMPANY_INSERT, company_row
from crmsandbox.intercom.notes import NOTE_COLUMNS
from crmsandbox.intercom.paging import MAX_PER_PAGE, int_param, offset_pages
from crmsandbox.intercom.store import new_hex_id

LIST_CAP = 10_000
SCROLL_PAGE = 50
SCROLL_IDLE_S = 60
COMPANY_LIMIT_PER_CONTACT = 1000
HAS_CONTACTS = "EXISTS (SELECT 1 FROM contact_companies cc WHERE cc.company_seq = t.seq)"


class CompaniesMixin:
    """Company operations; expects ``store``, ``now()``, ``app_id``, ``_count`` and contact helpers."""

    hide_companies_without_contacts = True

    def __init__(self) -> None:
        self._scroll: dict | None = None  # {param, last_seq, used}: one open scroll per app
        self._scroll_lock = threading.Lock()

    # -- rendering --------------------------------------------------------------------------------
    def render_companies(self, db: sqlite3.Connection, rows: list[tuple[int, str]], version: str) -> list[dict]:
        seqs = [r[0] for r in rows]
        counts: dict[int, int] = {}
        tags: dict[int, list] = defaultdict(list)
        if seqs:
            marks = ",".join("?" * len(seqs))
            counts = dict(
                db.execute(
                    f"SELECT company_seq, count(*) FROM contact_companies WHERE company_seq IN ({marks})"  # noqa: S608
                    " GROUP BY company_seq",
                    seqs,
                )
            )
            for seq, tid, name in db.execute(
                "SELECT ct.company_seq, t.id, t.name FROM company_tags ct JOIN tags t ON t.id = ct.tag_id"
                f" WHERE ct.company_seq IN ({marks})",  # noqa: S608
                seqs,
            ):
                tags[seq].append((str(tid), name))
        segments, notes, note_totals = self._company_extras(db, seqs, version)
        return [
            render_company(
                json.loads(doc),
                version,
                counts.get(seq, 0),
                tags[seq],
                segments[seq],
                notes[seq],
                note_totals.get(seq, 0),
            )
            for seq, doc in rows
        ]

    def _company_extras(self, db: sqlite3.Connection, seqs: list[int], version: str) -> tuple[dict, dict, dict]:
        """Segments of each company, and (2.16) its 10 most recent notes and their total."""
        segments: dict[int, list] = defaultdict(list)
        notes: dict[int, list] = defaultdict(list)
        totals: dict[int, int] = {}
        if not seqs:
            return segments, notes, totals
        marks = ",".join("?" * len(seqs))
        for seq, *row in db.execute(
            "SELECT cs.company_seq, s.id, s.name, s.person_type, s.created_at, s.updated_at FROM segments s"  # noqa: S608
            f" JOIN company_segments cs ON cs.segment_id = s.id WHERE cs.company_seq IN ({marks})"
            " ORDER BY s.created_at, s.id",
            seqs,
        ):
            segments[seq].append(self._segment(tuple(row)))
        if version_tuple(version) >= (2, 16):
            totals = dict(
                db.execute(
                    f"SELECT company_seq, count(*) FROM notes WHERE company_seq IN ({marks}) GROUP BY company_seq",  # noqa: S608
                    seqs,
                )
            )
            for seq in totals:
                rows = db.execute(
                    f"{NOTE_COLUMNS} WHERE n.company_seq = ? ORDER BY n.id DESC LIMIT 10",  # noqa: S608
                    (seq,),
                ).fetchall()
                notes[seq] = self._render_notes(db, rows, version)
        return segments, notes, totals

    def _company(self, db: sqlite3.Connection, company_id: str) -> tuple[int, str]:
        row = db.execute("SELECT seq, doc FROM companies WHERE id = ?", (str(company_id),)).fetchone()
        if row is None:
            raise CompanyNotFound()
        return row

    # -- reads ------------------------------------------------------------------------------------
    def get_company(self, company_id: str, version: str) -> tuple[dict, int]:
        with self.store.connection() as db:
            return self.render_companies(db, [self._company(db, company_id)], version)[0], 1

    def find_company(self, args: dict, version: str) -> tuple[dict, int]:
        """GET /companies: ?company_id= or ?name= give one company; otherwise a page-numbered list."""
        for key in ("company_id", "name"):
            if args.get(key):
                with self.store.connection() as db:
                    row = db.execute(
                        f"SELECT seq, doc FROM companies WHERE {key} = ? ORDER BY seq LIMIT 1",  # noqa: S608
                        (args[key],),
                    ).fetchone()
                    if row is None:
                        raise CompanyNotFound()
                    return self.render_companies(db, [row], version)[0], 1
        where, params = "1", []
        if args.get("tag_id"):
            where, params = "t.seq IN (SELECT company_seq FROM company_tags WHERE tag_id = ?)", [args["tag_id"]]
        elif args.get("segment_id"):
            where = "t.seq IN (SELECT company_seq FROM company_segments WHERE segment_id = ?)"
            params = [str(args["segment_id"])]
        return self.list_companies(args, version, where=where, params=params, path="/companies")

    def list_companies(
        self, args: dict, version: str, *, where: str = "1", params: list | None = None, path: str = "/companies/list"
    ) -> tuple[dict, int]:
        """POST /companies/list (and GET /companies): by last_request_at, page numbers, 10,000-record cap."""
        params = params or []
        page = int_param(args.get("page"), "page", 1)
        size = int_param(args.get("per_page"), "per_page", 15, maximum=MAX_PER_PAGE)
        order = args.get("order") or "desc"
        if order not in ("asc", "desc"):
            raise ParameterInvalid(f"order must be asc or desc, got {order!r}", field="order")
        offset = (page - 1) * size
        if offset >= LIST_CAP:
            raise BadRequest("page limit reached, please use scroll API")
        if self.hide_companies_without_contacts:
            where = f"({where}) AND {HAS_CONTACTS}"
        base = f"FROM companies t WHERE {where}"
        total = self._count(f"SELECT count(*) {base}", params)
        direction = "ASC" if order == "asc" else "DESC"
        limit = min(size, LIST_CAP - offset)
        sql = (
            f"SELECT t.seq, t.doc {base} ORDER BY coalesce(t.last_request_at, 0) {direction}, t.seq {direction}"  # noqa: S608
            " LIMIT ? OFFSET ?"
        )
        with self.store.connection() as db:
            rows = db.execute(sql, [*params, limit, offset]).fetchall()
            data = self.render_companies(db, rows, version)
        reachable = min(total, LIST_CAP)
        pages = offset_pages(page, size, reachable, None)
        pages.pop("next")
        if offset + size < reachable:  # the documented cursor_pages object; this list pages by number
            pages["next"] = {"page": page + 1, "per_page": size, "starting_after": None}
        body = {"type": "list", "data": data, "total_count": total, "pages": pages}
        return body, len(data)

    def scroll_companies(self, scroll_param: str | None, version: str) -> tuple[dict, int]:
        """GET /companies/scroll: one open scroll per app, expiring after a minute idle; [] at the end."""
        now = self.now()
        with self._scroll_lock:
            sc = self._scroll
            if sc and now - sc["used"] > SCROLL_IDLE_S:
                sc = self._scroll = None
            if not scroll_param:
                if sc:
                    raise ScrollExists()
                sc = self._scroll = {"param": str(uuid.uuid4()), "last_seq": 0, "used": now}
            elif sc is None or sc["param"] != scroll_param:
                raise NotFound("scroll parameter not found")
            where = f"t.seq > ? AND {HAS_CONTACTS}" if self.hide_companies_without_contacts else "t.seq > ?"
            with self.store.connection() as db:
                rows = db.execute(
                    f"SELECT t.seq, t.doc FROM companies t WHERE {where} ORDER BY t.seq LIMIT ?",  # noqa: S608
                    (sc["last_seq"], SCROLL_PAGE),
                ).fetchall()
                data = self.render_companies(db, rows, version)
            if rows:
                sc["last_seq"], sc["used"] = rows[-1][0], now
            else:
                self._scroll = None  # the scroll ends with an empty page
        body = {"type": "list", "data": data, "pages": None, "total_count": None, "scroll_param": sc["param"]}
        return body, len(data)

    def end_scroll(self, scroll_param: str | None) -> None:
        """End the open scroll if ``scroll_param`` names it (a request of it failed with a 5xx)."""
        with self._scroll_lock:
            if self._scroll and scroll_param and self._scroll["param"] == scroll_param:
                self._scroll = None

    def reset_scroll(self) -> None:
        with self._scroll_lock:
            self._scroll = None

    def company_contacts(self, company_id: str, args: dict, version: str) -> tuple[dict, int]:
        """GET /companies/{id}/contacts: page-numbered."""
        page = int_param(args.get("page"), "page", 1)
        size = int_param(args.get("per_page"), "per_page", 50, maximum=MAX_PER_PAGE)
        with self.store.connection() as db:
            seq = self._company(db, company_id)[0]
            base = (
                "FROM contact_companies cc JOIN contacts t ON t.seq = cc.contact_seq"
                " WHERE cc.company_seq = ? AND t.merged_into IS NULL"
            )
            total = db.execute(f"SELECT count(*) {base}", (seq,)).fetchone()[0]  # noqa: S608
            rows = db.execute(
                f"SELECT t.seq, t.doc, t.id {base} ORDER BY t.seq LIMIT ? OFFSET ?",  # noqa: S608
                (seq, size, (page - 1) * size),
            ).fetchall()
            data = self.render_contacts(db, rows, version)
        body = {"type": "list", "data": data, "total_count": total, "pages": offset_pages(page, size, total, None)}
        pages = body["pages"]
        pages.pop("next")
        if page * size < total:
            pages["next"] = {"page": page + 1, "per_page": size, "starting_after": None}
        return body, len(data)

    # -- writes -----------------------------------------------------------------------------------
    def _check_company_payload(self, db: sqlite3.Connection, body: object) -> dict:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        for key in body:
            if key not in COMPANY_WRITABLE:
                raise BadRequest(f"bad '{key}' parameter")
        for key in ("company_id", "name", "plan", "website", "industry"):
            v = body.get(key)
            if v is not None and not isinstance(v, str):
                raise ParameterInvalid(f"{key} must be a string", field=key)
        if body.get("update_last_request_at") is not None and not isinstance(body["update_last_request_at"], bool):
            raise ParameterInvalid("update_last_request_at must be a boolean", field="update_last_request_at")
        if body.get("custom_attributes") is not None and not isinstance(body["custom_attributes"], dict):
            raise ParameterInvalid("custom_attributes must be an object", field="custom_attributes")
        for key in ("size", "remote_created_at"):
            v = body.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or abs(v) > 2**62):
                raise ParameterInvalid(f"{key} must be an integer", field=key)
        if body.get("monthly_spend") is not None:
            spend = body["monthly_spend"]
            if not isinstance(spend, (int, float)) or isinstance(spend, bool) or not abs(spend) < 2**62:
                raise ParameterInvalid("monthly_spend must be a number", field="monthly_spend")
            body["monthly_spend"] = int(body["monthly_spend"])  # Intercom truncates
        if body.get("custom_attributes") is not None:
            catalog.check_custom_attributes(body["custom_attributes"], catalog.custom_attribute_types(db, "company"))
        return body

    def _apply_company(self, doc: dict, body: dict, now: int) -> dict:
        for key, value in body.items():
            if key in ("id", "company_id", "update_last_request_at"):
                continue
            if key == "custom_attributes":
                for k, v in (value or {}).items():
                    if v is None:
                        doc["custom_attributes"].pop(k, None)
                    else:
                        doc["custom_attributes"][k] = v
            elif key == "plan":
                doc["plan"] = {"type": "plan", "id": str(value), "name": str(value)} if value else {}
            else:
                doc[key] = value
        if body.get("update_last_request_at"):
            doc["last_request_at"] = now
        doc["updated_at"] = now
        return doc

    def _save_company(self, db: sqlite3.Connection, seq: int, doc: dict) -> None:
        db.execute(
            "UPDATE companies SET id=?, company_id=?, name=?, created_at=?, updated_at=?, last_request_at=?, doc=?"
            " WHERE seq=?",
            (*company_row(doc), seq),
        )

    def create_or_update_company(self, body: object, version: str) -> tuple[dict, int]:
        """POST /companies: looked up by company_id; updates if found, else creates."""
        now = self.now()
        with self.store.transaction() as db:
            body = self._check_company_payload(db, body)
            if body.get("company_id") in (None, ""):
                raise ParameterNotFound("company_id not specified", field="company_id")
            key = str(body["company_id"])
            row = db.execute(
                "SELECT seq, doc FROM companies WHERE company_id = ? ORDER BY seq LIMIT 1", (key,)
            ).fetchone()
            if row:
                seq, doc = row[0], self._apply_company(json.loads(row[1]), body, now)
                self._save_company(db, seq, doc)
            else:
                doc = normalize_company({"id": new_hex_id(), "company_id": key, "created_at": now}, self.app_id)
                doc = self._apply_company(doc, body, now)
                db.execute(COMPANY_INSERT, company_row(doc))
                seq = db.execute("SELECT seq FROM companies WHERE id = ?", (doc["id"],)).fetchone()[0]
            return self.render_companies(db, [(seq, dumps(doc))], version)[0], 1

    def update_company(self, company_id: str, body: object, version: str) -> tuple[dict, int]:
        """PUT /companies/{id}: company_id cannot change."""
        now = self.now()
        with self.store.transaction() as db:
            seq, doc_json = self._company(db, company_id)
            body = self._check_company_payload(db, body)
            doc = json.loads(doc_json)
            if body.get("company_id") not in (None, doc["company_id"]):
                raise BadRequest("company_id cannot be changed after creation", field="company_id")
            doc = self._apply_company(doc, body, now)
            self._save_company(db, seq, doc)
            return self.render_companies(db, [(seq, dumps(doc))], version)[0], 1

    def delete_company(self, company_id: str) -> tuple[dict, int]:
        """DELETE /companies/{id}: contacts are detached, not deleted."""
        with self.store.transaction() as db:
            seq = self._company(db, company_id)[0]
            db.execute("DELETE FROM contact_companies WHERE company_seq = ?", (seq,))
            db.execute("DELETE FROM company_tags WHERE company_seq = ?", (seq,))
            db.execute("DELETE FROM company_segments WHERE company_seq = ?", (seq,))
            db.execute("DELETE FROM notes WHERE company_seq = ?", (seq,))
            db.execute("DELETE FROM companies WHERE seq = ?", (seq,))
        return {"id": str(company_id), "object": "company", "deleted": True}, 1

    # -- contact <-> company ------------------------------------------------------------------------
    def attach_company(self, contact_id: str, body: object, version: str) -> tuple[dict, int]:
        """POST /contacts/{id}/companies {"id"}: at most 1000 companies per contact."""
        if not isinstance(body, dict) or body.get("id") in (None, ""):
            raise ParameterNotFound("company not specified", field="id")
        with self.store.transaction() as db:
            cseq = self._live_contact(db, contact_id, version)[0]
            row = self._company(db, str(body["id"]))
            n = db.execute("SELECT count(*) FROM contact_companies WHERE contact_seq = ?", (cseq,)).fetchone()[0]
            if n >= COMPANY_LIMIT_PER_CONTACT:
                raise ContactCompanyLimitExceeded()
            db.execute(
                "INSERT OR IGNORE INTO contact_companies(contact_seq, company_seq) VALUES (?, ?)", (cseq, row[0])
            )
            return self.render_companies(db, [row], version)[0], 1

    def detach_company(self, contact_id: str, company_id: str, version: str) -> tuple[dict, int]:
        with self.store.transaction() as db:
            cseq = self._live_contact(db, contact_id, version)[0]
            row = self._company(db, company_id)
            if not db.execute(
                "DELETE FROM contact_companies WHERE contact_seq = ? AND company_seq = ?", (cseq, row[0])
            ).rowcount:
                raise CompanyNotFound()
            return self.render_companies(db, [row], version)[0], 1

    def contact_companies(self, contact_id: str, args: dict, version: str) -> tuple[dict, int]:
        """GET /contacts/{id}/companies: page-numbered; the array under both ``companies`` and ``data``."""
        page = int_param(args.get("page"), "page", 1)
        size = int_param(args.get("per_page"), "per_page", 50, maximum=MAX_PER_PAGE)
        with self.store.connection() as db:
            cseq = self._live_contact(db, contact_id, version)[0]
            total = db.execute("SELECT count(*) FROM contact_companies WHERE contact_seq = ?", (cseq,)).fetchone()[0]
            rows = db.execute(
                "SELECT co.seq, co.doc FROM contact_companies cc JOIN companies co ON co.seq = cc.company_seq"
                " WHERE cc.contact_seq = ? ORDER BY co.seq LIMIT ? OFFSET ?",
                (cseq, size, (page - 1) * size),
            ).fetchall()
            data = self.render_companies(db, rows, version)
        nxt = f"/contacts/{contact_id}/companies?page={page + 1}&per_page={size}" if page * size < total else None
        pages = offset_pages(page, size, total, nxt)
        return {"type": "list", "companies": data, "data": data, "total_count": total, "pages": pages}, len(data)

    # -- workspace tags ------------------------------------------------------------------------------
    def list_tags(self) -> tuple[dict, int]:
        with self.store.connection() as db:
            rows = db.execute("SELECT id, name FROM tags ORDER BY id").fetchall()
        return {"type": "list", "data": [{"type": "tag", "id": str(i), "name": n} for i, n in rows]}, len(rows)

    def get_tag(self, tag_id: str) -> tuple[dict, int]:
        with self.store.connection() as db:
            row = (
                db.execute("SELECT id, name FROM tags WHERE id = ?", (tag_id,)).fetchone() if tag_id.isdigit() else None
            )
        if row is None:
            raise NotFound("Resource Not Found")
        return {"type": "tag", "id": str(row[0]), "name": row[1]}, 1

    def delete_tag(self, tag_id: str) -> tuple[dict, int]:
        with self.store.transaction() as db:
            if not tag_id.isdigit() or not db.execute("DELETE FROM tags WHERE id = ?", (tag_id,)).rowcount:
                raise NotFound("Resource Not Found")
            db.execute("DELETE FROM contact_tags WHERE tag_id = ?", (tag_id,))
            db.execute("DELETE FROM company_tags WHERE tag_id = ?", (tag_id,))
        return {}, 1

    def post_tag(self, body: object, version: str) -> tuple[dict, int]:
        """POST /tags: create (an existing name returns it), rename by id, or tag/untag companies and users."""
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise ParameterInvalid("a tag needs a non-empty 'name'", field="name")
        name = body["name"].strip()
        with self.store.transaction() as db:
            if body.get("id") is not None and not body.get("companies") and not body.get("users"):
                tid = str(body["id"])
                if not tid.isdigit() or not db.execute("UPDATE tags SET name = ? WHERE id = ?", (name, tid)).rowcount:
                    raise NotFound("Resource Not Found")
                return {"type": "tag", "id": tid, "name": name}, 1
            row = db.execute("SELECT id FROM tags WHERE name = ?", (name,)).fetchone()
            if row:
                tid = row[0]
            else:
                tid = db.execute("SELECT coalesce(max(id), 0) + 1 FROM tags").fetchone()[0]
                db.execute("INSERT INTO tags(id, name) VALUES (?, ?)", (tid, name))
            n = 1
            for ref in body.get("companies") or []:
                n += self._tag_company(db, tid, ref)
            for ref in body.get("users") or []:
                if not isinstance(ref, dict) or not ref.get("id"):
                    raise ParameterInvalid("users items need an 'id'", field="users")
                seq = self._live_contact(db, str(ref["id"]), version)[0]
                if ref.get("untag"):
                    db.execute("DELETE FROM contact_tags WHERE contact_seq = ? AND tag_id = ?", (seq, tid))
                else:
                    db.execute(
                        "INSERT OR IGNORE INTO contact_tags(contact_seq, tag_id, applied_at) VALUES (?, ?, ?)",
                        (seq, tid, self.now()),
                    )
                n += 1
        return {"type": "tag", "id": str(tid), "name": name}, n

    def _tag_company(self, db: sqlite3.Connection, tid: int, ref: object) -> int:
        if not isinstance(ref, dict) or not (ref.get("id") or ref.get("company_id")):
            raise ParameterInvalid("companies items need an 'id' or a 'company_id'", field="companies")
        if ref.get("id"):
            row = db.execute("SELECT seq FROM companies WHERE id = ?", (str(ref["id"]),)).fetchone()
        else:
            row = db.execute("SELECT seq FROM companies WHERE company_id = ?", (str(ref["company_id"]),)).fetchone()
        if row is None:
            raise CompanyNotFound()
        if ref.get("untag"):
            db.execute("DELETE FROM company_tags WHERE company_seq = ? AND tag_id = ?", (row[0], tid))
        else:
            db.execute("INSERT OR IGNORE INTO company_tags(company_seq, tag_id) VALUES (?, ?)", (row[0], tid))
        return 1
