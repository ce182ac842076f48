"""State and rules of the Intercom emulator (no HTTP): the backend and its contact operations.

Every operation returns ``(body, records)``: the response document and the
number of records it read or wrote (for the request log). Errors are raised
as the wire exceptions of ``exceptions.py``. Companies, tags, conversations
and the catalog live in sibling mixins.

Differences from the real service are noted on each operation.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable

from crmsandbox.intercom import buckets, catalog
from crmsandbox.intercom.companies import CompaniesMixin
from crmsandbox.intercom.conversations import ConversationsMixin
from crmsandbox.intercom.documents import (
    CONTACT_WRITABLE,
    RawJSON,
    avatar_object,
    contact_from_text,
    contact_text,
    dumps,
    merge_history_item,
    normalize_contact,
    render_contact_text,
    version_tuple,
)
from crmsandbox.intercom.exceptions import (
    BadRequest,
    Conflict,
    ContactMerged,
    InvalidMerge,
    InvalidSortOrder,
    NotFound,
    ParameterInvalid,
)
from crmsandbox.intercom.loader import CONTACT_INSERT, contact_row
from crmsandbox.intercom.notes import NotesMixin
from crmsandbox.intercom.paging import (
    MAX_PER_PAGE,
    CountCache,
    cursor_pages,
    decode_cursor,
    encode_cursor,
    int_param,
    keyset_page_sql,
)
from crmsandbox.intercom.search import (
    CONTACT_OPS,
    Field,
    QueryCompiler,
    contact_resolver,
    sort_expression,
)
from crmsandbox.intercom.store import Store, new_hex_id

LIVE = "t.archived = 0 AND t.merged_into IS NULL"
_COLUMN = re.compile(r"\bt\.(\w+)")


def _walk_sort_index(expr: str, where: str) -> bool:
    """True when a page sorted by a date column is best read along that column's keyset index: the query
    bounds that date and tests nothing but the two dates and the role (all carried by the index)."""
    if expr not in ("t.created_at", "t.updated_at"):
        return False
    columns = set(_COLUMN.findall(where))
    return expr[2:] in columns and columns <= {"created_at", "updated_at", "role"}


class IntercomBackend(CompaniesMixin, ConversationsMixin, NotesMixin):
    """One Intercom workspace held in SQLite."""

    def __init__(self, store: Store, clock: Callable[[], float], *, timezone: str = "UTC") -> None:
        self.store = store
        self.clock = clock
        self.timezone = timezone
        self.counts = CountCache()
        self._interleaved: dict[str, dict] = {}
        self.app_id = store.get_meta("app_id") or "sbx1c0m9"
        CompaniesMixin.__init__(self)

    def now(self) -> int:
        return int(self.clock())

    def _count(self, sql: str, params: list) -> int:
        key = (sql, tuple(params))
        generation = self.store.generation
        hit = self.counts.get(key, generation)
        if hit is not None:
            return hit
        with self.store.connection() as db:
            n = db.execute(sql, params).fetchone()[0]
        self.counts.put(key, generation, n)
        return n

    # -- contact rendering ------------------------------------------------------------------------
    def _embedded(self, db: sqlite3.Connection, seqs: list[int]) -> dict[int, dict[str, list[str]]]:
        """Tag, note and company ids of each contact (all of them; rendering sends the first 10)."""
        out: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        if seqs:
            marks = ",".join("?" * len(seqs))
            queries = {
                "tags": f"SELECT contact_seq, tag_id FROM contact_tags WHERE contact_seq IN ({marks})",
                # the most recent notes first
                "notes": f"SELECT contact_seq, id FROM notes WHERE contact_seq IN ({marks}) ORDER BY contact_seq, id DESC",
                "companies": "SELECT cc.contact_seq, co.id FROM contact_companies cc"
                f" JOIN companies co ON co.seq = cc.company_seq WHERE cc.contact_seq IN ({marks})",
            }
            for key, sql in queries.items():
                for seq, ref in db.execute(sql, seqs):
                    out[seq][key].append(str(ref))
        return out

    def render_contacts_text(
        self, db: sqlite3.Connection, rows: list[tuple], version: str, merge_history: bool = False
    ) -> list[str]:
        """Contacts (rows of seq, stored text, id) as JSON texts, embedded lists included."""
        embedded = self._embedded(db, [r[0] for r in rows])
        empty: dict[str, list[str]] = {}
        return [
            render_contact_text(text, cid, version, embedded.get(seq, empty), merge_history=merge_history)
            for seq, text, cid in rows
        ]

    def render_contacts(
        self, db: sqlite3.Connection, rows: list[tuple], version: str, merge_history: bool = False
    ) -> list[dict]:
        return [json.loads(t) for t in self.render_contacts_text(db, rows, version, merge_history)]

    def _contact_row(self, db: sqlite3.Connection, contact_id: str) -> sqlite3.Row | tuple:
        row = db.execute(
            "SELECT seq, doc, archived, merged_into FROM contacts WHERE id = ?", (str(contact_id),)
        ).fetchone()
        if row is None:
            raise NotFound("User Not Found")
        return row

    def _live_contact(self, db: sqlite3.Connection, contact_id: str, version: str) -> tuple:
        """The contact's (seq, doc, archived, merged_into); merged-away contacts answer as the version does."""
        row = self._contact_row(db, contact_id)
        if row[3] is not None:
            if version_tuple(version) < (2, 16):
                raise NotFound("User Not Found")
            canonical, hops = row[3], 0
            while hops < 3:
                nxt = db.execute("SELECT merged_into FROM contacts WHERE id = ?", (canonical,)).fetchone()
                if not nxt or nxt[0] is None:
                    break
                canonical, hops = nxt[0], hops + 1
            raise ContactMerged(headers={"Link": f'</contacts/{canonical}>; rel="canonical"'})
        return row

    # -- contact reads --------------------------------------------------------------------------
    def get_contact(self, contact_id: str, version: str, merge_history: bool = False) -> tuple[dict, int]:
        """GET /contacts/{id}. Archived contacts stay retrievable."""
        with self.store.connection() as db:
            seq, doc, _, _ = self._live_contact(db, contact_id, version)
            return self.render_contacts(db, [(seq, doc, str(contact_id))], version, merge_history)[0], 1

    def find_by_external_id(self, external_id: str, version: str, merge_history: bool = False) -> tuple[dict, int]:
        """GET /contacts/find_by_external_id/{external_id}: users only."""
        with self.store.connection() as db:
            row = db.execute(
                "SELECT id FROM contacts WHERE external_id = ? AND role = 'user' ORDER BY merged_into IS NOT NULL",
                (external_id,),
            ).fetchone()
            if row is None:
                raise NotFound("User Not Found")
        return self.get_contact(row[0], version, merge_history)

    def list_contacts(
        self, version: str, per_page: object, starting_after: str | None, merge_history: bool = False
    ) -> tuple[dict, int]:
        """GET /contacts: live contacts by created_at ascending (keyset cursor)."""
        size = int_param(per_page, "per_page", 10, maximum=MAX_PER_PAGE)
        every = buckets.BucketPlan("created_at")  # created_at is NOT NULL: its buckets count every live contact
        page = (Field("t.created_at", "date"), True, size, starting_after)
        return self._contact_page(version, "1", [], *page, every, merge_history)

    def search_contacts(self, body: dict, version: str, merge_history: bool = False) -> tuple[dict, int]:
        """POST /contacts/search: the query grammar of search.py, sort, body pagination."""
        if not isinstance(body, dict) or "query" not in body:
            raise BadRequest("search needs a 'query' object")
        with self.store.connection() as db:
            resolve = contact_resolver(catalog.custom_attribute_types(db, "contact"))
        compiler = QueryCompiler(resolve, CONTACT_OPS, self.timezone)
        where, params = compiler.compile(body["query"])
        plan = compiler.bucket_plan(body["query"])
        pagination = body.get("pagination") or {}
        if not isinstance(pagination, dict):
            raise ParameterInvalid("pagination must be an object", field="pagination")
        size = int_param(pagination.get("per_page"), "per_page", 50, maximum=MAX_PER_PAGE)
        sort = body.get("sort") or {}
        if not isinstance(sort, dict):
            raise ParameterInvalid("sort must be an object with field and order", field="sort")
        if not isinstance(sort.get("field") or "", str) or not isinstance(sort.get("order") or "", str):
            raise ParameterInvalid("sort.field and sort.order must be strings", field="sort.field")
        sort_field = resolve(sort.get("field") or "created_at")
        if sort_field is None or sort_field.kind == "exists":
            raise ParameterInvalid(f"cannot sort by {sort.get('field')!r}", field="sort.field")
        order = sort.get("order") or "descending"
        if order not in ("ascending", "descending"):
            if version_tuple(version) >= (2, 16):
                raise InvalidSortOrder(f"Invalid sort order '{order}'. Must be one of: ascending, descending")
            order = "descending"
        cursor = pagination.get("starting_after")
        page = (sort_field, order == "ascending", size, cursor)
        return self._contact_page(version, where, params, *page, plan, merge_history)

    def _contact_page(
        self,
        version: str,
        where: str,
        params: list,
        sort: Field,
        ascending: bool,
        size: int,
        cursor: str | None,
        plan: buckets.BucketPlan | None = None,
        merge_history: bool = False,
    ) -> tuple[RawJSON, int]:
        expr = sort_expression(sort)
        base = f"FROM contacts t WHERE {LIVE} AND ({where})"
        count_base = base
        if _walk_sort_index(expr, where):
            # Filtered on the sort date (and maybe the other date or role), e.g. the pull's incremental partitions:
            # walking the sort date's index stops after one page, where SQLite's own choice (the other date's
            # range) fetches and sorts every row of that range first.
            base = f"FROM contacts t INDEXED BY ix_contacts_{expr[2:-3]}_seq WHERE {LIVE} AND ({where})"
        if plan is not None:  # an exact count from the date buckets (no row scan), cached until the next write
            generation = self.store.generation  # read before counting: a write meanwhile is not cached as current
            total = self.counts.get(plan, generation)
            if total is None:
                with self.store.connection() as db:
                    total = buckets.count(db, plan)
                self.counts.put(plan, generation, total)
        else:
            total = self._count(f"SELECT count(*) {count_base}", params)
        sql, kparams, page = keyset_page_sql("t.seq, t.doc, t.id", base, expr, ascending, cursor)
        with self.store.connection() as db:
            rows = db.execute(sql, [*params, *kparams, size + 1]).fetchall()
            more = len(rows) > size
            rows = rows[:size]
            data = self.render_contacts_text(db, [r[:3] for r in rows], version, merge_history)
        next_cursor = encode_cursor(rows[-1][3], rows[-1][0], page + 1) if more else None
        pages = dumps(cursor_pages(page, size, total, next_cursor))
        # assembled as text: parsing and re-dumping 150 stored documents per page would dominate listing
        body = RawJSON(f'{{"type":"list","data":[{",".join(data)}],"total_count":{total},"pages":{pages}}}')
        return body, len(data)

    # -- write counters and injected concurrent writes (control API) -------------------------------
    @staticmethod
    def count_write(db: sqlite3.Connection, key: str, n: int = 1) -> None:
        """``n`` more writes of a record, in the caller's transaction (rolled back with it)."""
        db.execute(
            "INSERT INTO write_counts(key, n) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET n = n + excluded.n",
            (key, n),
        )
        db.execute("DELETE FROM write_counts WHERE n <= 0")

    def write_counts(self) -> dict[str, int]:
        with self.store.connection() as db:
            return dict(db.execute("SELECT key, n FROM write_counts ORDER BY key").fetchall())

    def interleave(self, contact_id: str, fields: dict) -> None:
        """Someone else's write to this contact lands just before the next PUT of it (after a client re-read)."""
        self._interleaved[str(contact_id)] = fields

    # -- contact writes -------------------------------------------------------------------------
    def _check_contact_payload(self, db: sqlite3.Connection, body: object) -> dict:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        unknown = sorted(set(body) - CONTACT_WRITABLE)
        if unknown:
            raise BadRequest(f"bad '{unknown[0]}' parameter")
        if "role" in body and body["role"] not in ("user", "lead"):
            raise ParameterInvalid(f"role must be user or lead, got {body['role']!r}", field="role")
        for key in ("email", "external_id", "name", "phone", "avatar", "language_override"):
            if body.get(key) is not None and not isinstance(body[key], str):
                if key == "external_id" and isinstance(body[key], int) and not isinstance(body[key], bool):
                    body[key] = str(body[key])
                    continue
                raise ParameterInvalid(f"{key} must be a string", field=key)
        for key in ("signed_up_at", "last_seen_at"):
            v = body.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**37):
                raise ParameterInvalid(f"{key} must be a Unix timestamp (integer seconds)", field=key)
        if body.get("owner_id") is not None and (isinstance(body["owner_id"], (bool, dict, list, float))):
            raise ParameterInvalid("owner_id must be an admin id", field="owner_id")
        for key in ("unsubscribed_from_emails", "email_verified"):
            if body.get(key) is not None and not isinstance(body[key], bool):
                raise ParameterInvalid(f"{key} must be a boolean (true or false)", field=key)
            if key in body and body[key] is None:  # null leaves the flag as it is (it is never null)
                del body[key]
        if body.get("custom_attributes") is not None and not isinstance(body["custom_attributes"], dict):
            raise ParameterInvalid("custom_attributes must be an object", field="custom_attributes")
        if "custom_attributes" in body and body["custom_attributes"] is not None:
            catalog.check_custom_attributes(body["custom_attributes"], catalog.custom_attribute_types(db, "contact"))
        return body

    def _check_unique(self, db: sqlite3.Connection, role: str, external_id: str | None, email: str | None, own: str):
        """409 conflict when another contact holds the external_id, or another user the email."""
        if external_id:
            row = db.execute(
                "SELECT id, archived FROM contacts WHERE external_id = ? AND merged_into IS NULL AND id != ?",
                (external_id, own),
            ).fetchone()
            if row:
                if row[1]:
                    raise Conflict(f"An archived contact matching those details already exists with id={row[0]}")
                raise Conflict(f"A contact matching those details already exists with id={row[0]}")
        if email and role == "user":
            row = db.execute(
                "SELECT id FROM contacts WHERE email = ? AND role = 'user' AND merged_into IS NULL AND id != ?",
                (email, own),
            ).fetchone()
            if row:
                raise Conflict(f"A contact matching those details already exists with id={row[0]}")

    def create_contact(self, body: object, version: str) -> tuple[dict, int]:
        """POST /contacts: 200 with the contact; 409 conflict on a duplicate external_id or user email."""
        with self.store.transaction() as db:
            body = self._check_contact_payload(db, body)
            if not any(body.get(k) for k in ("email", "external_id", "role")):
                raise ParameterInvalid("a contact needs at least one of email, external_id or role")
            role = body.get("role") or "user"
            self._check_unique(db, role, body.get("external_id"), body.get("email"), "")
            now = self.now()
            obj = {k: v for k, v in body.items() if k != "email_verified"}
            obj.update(id=new_hex_id(), role=role, created_at=now, updated_at=now)
            obj["custom_attributes"] = {k: v for k, v in (body.get("custom_attributes") or {}).items() if v is not None}
            doc = normalize_contact(obj, self.app_id)
            db.execute(CONTACT_INSERT, contact_row(doc))
            self.count_write(db, doc["id"])
            seq = db.execute("SELECT seq FROM contacts WHERE id = ?", (doc["id"],)).fetchone()[0]
            return self.render_contacts(db, [(seq, contact_text(doc), doc["id"])], version)[0], 1

    def update_contact(
        self, contact_id: str, body: object, version: str, merge_history: bool = False
    ) -> tuple[dict, int]:
        """PUT /contacts/{id}: partial update; custom_attributes merge key by key (null removes a key)."""
        with self.store.transaction() as db:
            seq, doc_json, archived, _ = self._live_contact(db, contact_id, version)
            body = self._check_contact_payload(db, body)
            doc = contact_from_text(doc_json)
            pending = self._interleaved.pop(str(contact_id), None)
            if pending:  # another writer's change, applied first (it is not one of this client's writes)
                for key, value in pending.items():
                    if key == "custom_attributes":
                        doc["custom_attributes"].update(value)
                    else:
                        doc[key] = value
            role = body.get("role") or doc["role"]
            ext = body["external_id"] if "external_id" in body else doc["external_id"]
            email = body["email"] if "email" in body else doc["email"]
            self._check_unique(db, role, ext, email, doc["id"])
            for key, value in body.items():
                if key == "custom_attributes":
                    attrs = doc["custom_attributes"]
                    for k, v in (value or {}).items():
                        if v is None:
                            attrs.pop(k, None)
                        else:
                            attrs[k] = v
                elif key == "avatar":
                    doc[key] = avatar_object(value)
                elif key != "email_verified":
                    doc[key] = str(value) if key == "owner_id" and value is not None else value
            if "email" in body:
                doc["email_domain"] = email.rpartition("@")[2] if email else None
            doc["updated_at"] = self.now()
            self._write_contact(db, seq, doc, archived)
            self.count_write(db, doc["id"])
            return self.render_contacts(db, [(seq, contact_text(doc), doc["id"])], version, merge_history)[0], 1

    def _write_contact(self, db: sqlite3.Connection, seq: int, doc: dict, archived: int) -> None:
        row = contact_row({**doc, "archived": archived})
        db.execute(
            "UPDATE contacts SET id=?, role=?, external_id=?, email=?, phone=?, name=?, owner_id=?, created_at=?,"
            " updated_at=?, signed_up_at=?, last_seen_at=?, archived=?, doc=? WHERE seq=?",
            (*row, seq),
        )

    def delete_contact(self, contact_id: str, version: str) -> tuple[dict, int]:
        """DELETE /contacts/{id}: removes the contact and its tag and company links."""
        with self.store.transaction() as db:
            seq, doc, _, _ = self._live_contact(db, contact_id, version)
            ext = json.loads(doc).get("external_id")
            for table in ("contact_tags", "contact_companies", "notes", "contact_segments"):
                db.execute(f"DELETE FROM {table} WHERE contact_seq = ?", (seq,))  # noqa: S608
            db.execute("DELETE FROM contacts WHERE seq = ?", (seq,))
        return {"type": "contact", "id": str(contact_id), "external_id": ext, "deleted": True}, 1

    def set_archived(self, contact_id: str, archived: bool, version: str) -> tuple[dict, int]:
        """POST /contacts/{id}/archive and /unarchive."""
        with self.store.transaction() as db:
            seq, doc, _, _ = self._live_contact(db, contact_id, version)
            db.execute("UPDATE contacts SET archived = ? WHERE seq = ?", (int(archived), seq))
            self.count_write(db, str(contact_id))
            ext = json.loads(doc).get("external_id")
        return {"type": "contact", "id": str(contact_id), "external_id": ext, "archived": archived}, 1

    def merge_contacts(self, body: object, version: str, merge_history: bool = False) -> tuple[dict, int]:
        """POST /contacts/merge: a lead into a user; tags, companies and conversations move to the user.

        Emulator choices (unverified upstream): user attributes that are empty are filled from the lead.
        """
        if not isinstance(body, dict) or not body.get("from") or not body.get("into"):
            raise ParameterInvalid("merge needs 'from' (a lead id) and 'into' (a user id)")
        with self.store.transaction() as db:
            lseq, ldoc, _, _ = self._live_contact(db, str(body["from"]), version)
            useq, udoc, uarch, _ = self._live_contact(db, str(body["into"]), version)
            lead, user = contact_from_text(ldoc), contact_from_text(udoc)
            if lead["role"] != "lead":
                raise BadRequest("the contact to merge 'from' must be a lead", field="from")
            if user["role"] != "user":
                raise BadRequest("the contact to merge 'into' must be a user", field="into")
            if version_tuple(version) >= (2, 16) and not body.get("skip_duplicate_validation"):
                same_email = lead["email"] and (lead["email"] or "").lower() == (user["email"] or "").lower()
                same_phone = lead["phone"] and lead["phone"] == user["phone"]
                if not (same_email or same_phone):
                    raise InvalidMerge(
                        "Contacts can only be merged when they are duplicates (matching email or phone). "
                        "Pass skip_duplicate_validation=true to override this check."
                    )
            for key, value in lead.items():
                if user.get(key) is None and value is not None:
                    user[key] = value
            for k, v in lead["custom_attributes"].items():
                user["custom_attributes"].setdefault(k, v)
            now = self.now()
            user["updated_at"] = now
            user["merge_history"] = [*(user.get("merge_history") or []), merge_history_item(lead, now)]
            db.execute(
                "INSERT OR IGNORE INTO contact_tags(contact_seq, tag_id, applied_at)"
                " SELECT ?, tag_id, applied_at FROM contact_tags WHERE contact_seq = ?",
                (useq, lseq),
            )
            db.execute(
                "INSERT OR IGNORE INTO contact_companies(contact_seq, company_seq)"
                " SELECT ?, company_seq FROM contact_companies WHERE contact_seq = ?",
                (useq, lseq),
            )
            db.execute("DELETE FROM contact_tags WHERE contact_seq = ?", (lseq,))
            db.execute("DELETE FROM contact_companies WHERE contact_seq = ?", (lseq,))
            db.execute(
                "UPDATE OR IGNORE conversation_contacts SET contact_id = ? WHERE contact_id = ?",
                (user["id"], lead["id"]),
            )
            db.execute("UPDATE contacts SET merged_into = ? WHERE seq = ?", (user["id"], lseq))
            self.count_write(db, lead["id"])  # a merge is a write of the lead it removes
            self._write_contact(db, useq, user, uarch)
            db.execute("UPDATE notes SET contact_seq = ? WHERE contact_seq = ?", (useq, lseq))
            db.execute(
                "INSERT OR IGNORE INTO contact_segments(segment_id, contact_seq)"
                " SELECT segment_id, ? FROM contact_segments WHERE contact_seq = ?",
                (useq, lseq),
            )
            db.execute("DELETE FROM contact_segments WHERE contact_seq = ?", (lseq,))
            user_row = [(useq, contact_text(user), user["id"])]
            return self.render_contacts(db, user_row, version, merge_history)[0], 2

    def list_merge_history(self, contact_id: str, args: dict, version: str) -> tuple[dict, int]:
        """GET /contacts/{id}/merge_history (2.16): the contacts merged into a user, newest first by default.

        ``cursor`` is an opaque offset; ``next_cursor`` is left out on the last page.
        """
        if version_tuple(version) < (2, 16):
            raise NotFound(f"/contacts/{contact_id}/merge_history is available from Intercom-Version 2.16")
        size = int_param(args.get("per_page"), "per_page", 50, maximum=MAX_PER_PAGE)
        order = args.get("order") or "desc"
        if order not in ("asc", "desc"):
            raise ParameterInvalid(f"order must be asc or desc, got {order!r}", field="order")
        offset = 0
        if args.get("cursor"):
            try:
                offset = decode_cursor(str(args["cursor"]))[1]
            except ParameterInvalid:
                offset = -1
            if offset < 0:
                raise ParameterInvalid(
                    "cursor is not one this API returned; pass next_cursor unchanged", field="cursor"
                )
        with self.store.connection() as db:
            _, doc, _, _ = self._live_contact(db, contact_id, version)
        contact = contact_from_text(doc)
        if contact["role"] != "user":
            raise NotFound("Contact not found")
        history = sorted(contact.get("merge_history") or [], key=lambda h: h.get("merged_at") or 0)
        if order == "desc":
            history.reverse()
        data = history[offset : offset + size]
        body: dict = {"type": "list", "data": data, "has_more": offset + size < len(history)}
        if body["has_more"]:
            body["next_cursor"] = encode_cursor(None, offset + size, 1)
        return body, len(data)

    # -- contact tags -----------------------------------------------------------------------------
    def contact_tags(self, contact_id: str, version: str) -> tuple[dict, int]:
        with self.store.connection() as db:
            seq = self._live_contact(db, contact_id, version)[0]
            rows = db.execute(
                "SELECT t.id, t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.contact_seq = ?"
                " ORDER BY t.id",
                (seq,),
            ).fetchall()
        return {"type": "list", "data": [{"type": "tag", "id": str(i), "name": n} for i, n in rows]}, len(rows)

    def tag_contact(self, contact_id: str, body: object, attach: bool, version: str, tag_id: str | None = None):
        """POST /contacts/{id}/tags {"id"} and DELETE /contacts/{id}/tags/{tag_id}: the tag, with applied_at."""
        if tag_id is None:
            if not isinstance(body, dict) or body.get("id") in (None, ""):
                raise ParameterInvalid("tag id not specified", field="id")
            tag_id = str(body["id"])
        with self.store.transaction() as db:
            seq = self._live_contact(db, contact_id, version)[0]
            tag = (
                db.execute("SELECT id, name FROM tags WHERE id = ?", (tag_id,)).fetchone() if tag_id.isdigit() else None
            )
            if tag is None:
                raise NotFound("Resource Not Found")
            now = self.now()
            if attach:
                db.execute(
                    "INSERT OR IGNORE INTO contact_tags(contact_seq, tag_id, applied_at) VALUES (?, ?, ?)",
                    (seq, tag[0], now),
                )
            else:
                if not db.execute(
                    "DELETE FROM contact_tags WHERE contact_seq = ? AND tag_id = ?", (seq, tag[0])
                ).rowcount:
                    raise NotFound("Resource Not Found")
            admin = db.execute("SELECT id FROM admins ORDER BY id LIMIT 1").fetchone()
        out = {"type": "tag", "id": str(tag[0]), "name": tag[1]}
        if attach:
            out.update(applied_at=now, applied_by={"type": "admin", "id": admin[0] if admin else "0"})
        return out, 1
