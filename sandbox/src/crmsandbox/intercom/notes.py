"""Notes on contacts and companies, and segments (a mixin of IntercomBackend).

Notes: ``GET/POST /contacts/{id}/notes``, ``GET /notes/{id}`` and, from 2.16,
``GET/POST /companies/{id}/notes``. A note belongs to a contact or a company,
never both; its author is an admin (the first one when ``admin_id`` is
absent). Plain-text bodies are HTML-escaped and wrapped in ``<p>`` as Intercom
renders them. Segments are read-only: loaded from ``segments.json`` (none when
absent), listed, retrieved, and listed per contact and company.
"""

from __future__ import annotations

import html
import sqlite3

from crmsandbox.intercom.documents import version_tuple
from crmsandbox.intercom.exceptions import BadRequest, CompanyNotFound, NotFound, ParameterInvalid
from crmsandbox.intercom.paging import MAX_PER_PAGE, int_param, offset_pages

NOTE_COLUMNS = (
    "SELECT n.id, n.created_at, n.admin_id, n.body, c.id, co.id FROM notes n"
    " LEFT JOIN contacts c ON c.seq = n.contact_seq LEFT JOIN companies co ON co.seq = n.company_seq"
)
SEGMENT_COLUMNS = "SELECT s.id, s.name, s.person_type, s.created_at, s.updated_at FROM segments s"


def note_body(text: str) -> str:
    """The stored body: HTML kept as sent, plain text escaped and wrapped in a paragraph."""
    return text if text.lstrip().startswith("<") else f"<p>{html.escape(text)}</p>"


class NotesMixin:
    """Notes and segments; expects ``store``, ``now()``, ``_live_contact``, ``_company`` and ``_admin_doc``."""

    # -- notes ----------------------------------------------------------------------------------
    def _render_notes(self, db: sqlite3.Connection, rows: list[tuple], version: str) -> list[dict]:
        admins = {r[0]: r[1] for r in db.execute("SELECT id, doc FROM admins")} if rows else {}
        out = []
        for nid, created_at, admin_id, body, contact_id, company_id in rows:
            note: dict = {"type": "note", "id": str(nid), "created_at": created_at}
            if contact_id is not None:
                note["contact"] = {"type": "contact", "id": contact_id}
            if company_id is not None:
                note["company"] = {"type": "company", "id": company_id}
            if admin_id in admins:
                note["author"] = self._admin_doc(admins[admin_id], version)
            note["body"] = body
            out.append(note)
        return out

    def _note_owner(self, db: sqlite3.Connection, kind: str, owner_id: str, version: str) -> int:
        if kind == "contact":
            return self._live_contact(db, owner_id, version)[0]
        if version_tuple(version) < (2, 16):
            raise NotFound(f"/companies/{owner_id}/notes is available from Intercom-Version 2.16")
        return self._company(db, owner_id)[0]

    def list_notes(self, kind: str, owner_id: str, args: dict, version: str) -> tuple[dict, int]:
        """GET /contacts/{id}/notes or /companies/{id}/notes: the most recent first, page-numbered."""
        page = int_param(args.get("page"), "page", 1)
        size = int_param(args.get("per_page"), "per_page", 50, maximum=MAX_PER_PAGE)
        column = "contact_seq" if kind == "contact" else "company_seq"
        with self.store.connection() as db:
            seq = self._note_owner(db, kind, owner_id, version)
            total = db.execute(f"SELECT count(*) FROM notes WHERE {column} = ?", (seq,)).fetchone()[0]  # noqa: S608
            rows = db.execute(
                f"{NOTE_COLUMNS} WHERE n.{column} = ? ORDER BY n.id DESC LIMIT ? OFFSET ?",  # noqa: S608
                (seq, size, (page - 1) * size),
            ).fetchall()
            data = self._render_notes(db, rows, version)
        pages = offset_pages(page, size, total, None)
        if page * size < total:
            pages["next"] = {"page": page + 1, "starting_after": None}
        return {"type": "list", "data": data, "total_count": total, "pages": pages}, len(data)

    def create_note(self, kind: str, owner_id: str, body: object, version: str) -> tuple[dict, int]:
        """POST /contacts/{id}/notes or /companies/{id}/notes {body, admin_id?}: 200 with the note."""
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise ParameterInvalid("a note needs a non-empty 'body' string", field="body")
        admin_id = body.get("admin_id")
        if admin_id is not None and (isinstance(admin_id, (bool, dict, list)) or str(admin_id) == ""):
            raise ParameterInvalid("admin_id must be an admin id", field="admin_id")
        with self.store.transaction() as db:
            seq = self._note_owner(db, kind, owner_id, version)
            if admin_id is None:
                row = db.execute("SELECT id FROM admins ORDER BY id LIMIT 1").fetchone()
            else:
                row = db.execute("SELECT id FROM admins WHERE id = ?", (str(admin_id),)).fetchone()
                if row is None:
                    raise NotFound("Resource Not Found")  # the spec's "Admin not found" example
            column = "contact_seq" if kind == "contact" else "company_seq"
            cur = db.execute(
                f"INSERT INTO notes({column}, created_at, admin_id, body) VALUES (?, ?, ?, ?)",  # noqa: S608
                (seq, self.now(), row[0] if row else None, note_body(text)),
            )
            rows = db.execute(f"{NOTE_COLUMNS} WHERE n.id = ?", (cur.lastrowid,)).fetchall()  # noqa: S608
            return self._render_notes(db, rows, version)[0], 1

    def get_note(self, note_id: str, version: str) -> tuple[dict, int]:
        """GET /notes/{id}."""
        if not note_id.isdigit() or len(note_id) > 18:
            raise NotFound("Resource Not Found")
        with self.store.connection() as db:
            rows = db.execute(f"{NOTE_COLUMNS} WHERE n.id = ?", (int(note_id),)).fetchall()  # noqa: S608
            if not rows:
                raise NotFound("Resource Not Found")
            return self._render_notes(db, rows, version)[0], 1

    # -- segments -------------------------------------------------------------------------------
    @staticmethod
    def _segment(row: tuple, count: int | None = None) -> dict:
        sid, name, person_type, created_at, updated_at = row
        out = {
            "type": "segment",
            "id": sid,
            "name": name,
            "created_at": created_at,
            "updated_at": updated_at,
            "person_type": person_type,
        }
        if count is not None:
            out["count"] = count
        return out

    def list_segments(self, args: dict) -> tuple[dict, int]:
        """GET /segments[?include_count=true]: count = live contacts in the segment."""
        with_count = str(args.get("include_count", "")).lower() in ("true", "1")
        with self.store.connection() as db:
            rows = db.execute(f"{SEGMENT_COLUMNS} ORDER BY s.created_at, s.id").fetchall()  # noqa: S608
            counts = {}
            if with_count:
                counts = dict(
                    db.execute(
                        "SELECT cs.segment_id, count(*) FROM contact_segments cs JOIN contacts c ON c.seq ="
                        " cs.contact_seq WHERE c.archived = 0 AND c.merged_into IS NULL GROUP BY cs.segment_id"
                    )
                )
        data = [self._segment(r, counts.get(r[0], 0) if with_count else None) for r in rows]
        return {"type": "segment.list", "segments": data}, len(data)

    def get_segment(self, segment_id: str) -> tuple[dict, int]:
        with self.store.connection() as db:
            row = db.execute(f"{SEGMENT_COLUMNS} WHERE s.id = ?", (segment_id,)).fetchone()  # noqa: S608
        if row is None:
            raise NotFound("Resource Not Found")
        return self._segment(row), 1

    def contact_segments(self, contact_id: str, version: str) -> tuple[dict, int]:
        """GET /contacts/{id}/segments."""
        with self.store.connection() as db:
            seq = self._live_contact(db, contact_id, version)[0]
            rows = db.execute(
                f"{SEGMENT_COLUMNS} JOIN contact_segments cs ON cs.segment_id = s.id WHERE cs.contact_seq = ?"  # noqa: S608
                " ORDER BY s.created_at, s.id",
                (seq,),
            ).fetchall()
        return {"type": "list", "data": [self._segment(r) for r in rows]}, len(rows)

    def company_segments(self, company_id: str) -> tuple[dict, int]:
        """GET /companies/{id}/segments."""
        with self.store.connection() as db:
            row = db.execute("SELECT seq FROM companies WHERE id = ?", (company_id,)).fetchone()
            if row is None:
                raise CompanyNotFound()
            rows = db.execute(
                f"{SEGMENT_COLUMNS} JOIN company_segments cs ON cs.segment_id = s.id WHERE cs.company_seq = ?"  # noqa: S608
                " ORDER BY s.created_at, s.id",
                (row[0],),
            ).fetchall()
        return {"type": "list", "data": [self._segment(r) for r in rows]}, len(rows)
