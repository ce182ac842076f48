"""Conversations, admins and data attributes (a mixin of IntercomBackend)."""

from __future__ import annotations

import json

from crmsandbox.intercom import catalog
from crmsandbox.intercom.documents import dumps, loads, render_conversation, version_tuple
from crmsandbox.intercom.exceptions import (
    AdminNotFound,
    BadRequest,
    NotFound,
    ParameterInvalid,
    UnprocessableParameter,
)
from crmsandbox.intercom.paging import MAX_PER_PAGE, cursor_pages, encode_cursor, int_param, keyset_page_sql
from crmsandbox.intercom.search import (
    CONVERSATION_OPS,
    QueryCompiler,
    resolve_conversation_field,
    sort_expression,
)


class ConversationsMixin:
    """Conversation, admin and data-attribute operations; expects ``store``, ``now()``, ``_count``."""

    # -- conversations -----------------------------------------------------------------------------
    def list_conversations(self, version: str, per_page: object, starting_after: str | None) -> tuple[dict, int]:
        """GET /conversations: by created_at ascending, without parts."""
        size = int_param(per_page, "per_page", 20, maximum=MAX_PER_PAGE)
        return self._conversation_page(version, "1", [], "t.created_at", True, size, starting_after)

    def search_conversations(self, body: object, version: str) -> tuple[dict, int]:
        """POST /conversations/search; ``sort`` is accepted (Airbyte sends it) and applied."""
        if not isinstance(body, dict) or "query" not in body:
            raise BadRequest("search needs a 'query' object")
        compiler = QueryCompiler(resolve_conversation_field, CONVERSATION_OPS, self.timezone, inclusive_ranges=True)
        where, params = compiler.compile(body["query"])
        pagination = body.get("pagination") or {}
        if not isinstance(pagination, dict):
            raise ParameterInvalid("pagination must be an object", field="pagination")
        size = int_param(pagination.get("per_page"), "per_page", 20, maximum=MAX_PER_PAGE)
        sort = body.get("sort") or {}
        if not isinstance(sort, dict):
            raise ParameterInvalid("sort must be an object with field and order", field="sort")
        if not isinstance(sort.get("field") or "", str) or not isinstance(sort.get("order") or "", str):
            raise ParameterInvalid("sort.field and sort.order must be strings", field="sort.field")
        field = resolve_conversation_field(sort.get("field") or "created_at")
        if field is None or field.kind == "exists":
            raise ParameterInvalid(f"cannot sort by {sort.get('field')!r}", field="sort.field")
        ascending = (sort.get("order") or "descending") == "ascending"
        return self._conversation_page(
            version, where, params, sort_expression(field), ascending, size, pagination.get("starting_after")
        )

    def _conversation_page(
        self, version: str, where: str, params: list, expr: str, ascending: bool, size: int, cursor: str | None
    ) -> tuple[dict, int]:
        base = f"FROM conversations t WHERE ({where})"
        total = self._count(f"SELECT count(*) {base}", params)
        sql, kparams, page = keyset_page_sql("t.seq, t.doc", base, expr, ascending, cursor)
        with self.store.connection() as db:
            rows = db.execute(sql, [*params, *kparams, size + 1]).fetchall()
        more = len(rows) > size
        rows = rows[:size]
        data = [render_conversation(loads(r[1]), version, None) for r in rows]
        nxt = encode_cursor(rows[-1][2], rows[-1][0], page + 1) if more else None
        body = {
            "type": "conversation.list",
            "conversations": data,
            "total_count": total,
            "pages": cursor_pages(page, size, total, nxt),
        }
        return body, len(data)

    def get_conversation(self, conversation_id: str, version: str) -> tuple[dict, int]:
        """GET /conversations/{id}: with its 500 most recent parts."""
        with self.store.connection() as db:
            row = db.execute("SELECT doc, parts FROM conversations WHERE id = ?", (str(conversation_id),)).fetchone()
        if row is None:
            raise NotFound("Resource Not Found")
        return render_conversation(json.loads(row[0]), version, json.loads(row[1])), 1

    # -- admins ------------------------------------------------------------------------------------
    def _admin_doc(self, doc: str, version: str) -> dict:
        out = json.loads(doc)
        if version_tuple(version) < (2, 16):
            out.pop("role", None)
        return out

    def list_admins(self, version: str) -> tuple[dict, int]:
        with self.store.connection() as db:
            rows = db.execute("SELECT doc FROM admins ORDER BY id").fetchall()
        return {"type": "admin.list", "admins": [self._admin_doc(r[0], version) for r in rows]}, len(rows)

    def get_admin(self, admin_id: str, version: str) -> tuple[dict, int]:
        with self.store.connection() as db:
            row = db.execute("SELECT doc FROM admins WHERE id = ?", (str(admin_id),)).fetchone()
        if row is None:
            raise AdminNotFound()
        return self._admin_doc(row[0], version), 1

    def me(self, version: str) -> tuple[dict, int]:
        """GET /me: the first admin and the workspace (app) it belongs to."""
        with self.store.connection() as db:
            row = db.execute("SELECT doc FROM admins ORDER BY id LIMIT 1").fetchone()
        out = self._admin_doc(row[0], version) if row else catalog.normalize_admin(catalog.default_admin())
        if out.get("avatar") is None:  # /me describes avatar as a non-nullable object
            out.pop("avatar", None)
        out["email_verified"] = True
        out["app"] = {
            "type": "app",
            "id_code": self.app_id,
            "name": "syncaudit sandbox",
            "created_at": 1_700_000_000,
            "secure": False,
            "identity_verification": False,
            "timezone": self.timezone,
            "region": "US",
        }
        return out, 1

    # -- data attributes ------------------------------------------------------------------------------
    def list_data_attributes(self, args: dict, version: str) -> tuple[dict, int]:
        """GET /data_attributes?model=contact|company&include_archived=."""
        model = args.get("model")
        if model == "conversation" and version_tuple(version) >= (2, 16):
            raise UnprocessableParameter(
                "model=conversation is no longer supported. Use GET /conversations/attributes instead"
            )
        if model not in (None, "", "contact", "company", "conversation"):
            raise ParameterInvalid(f"model must be contact or company, got {model!r}", field="model")
        include_archived = str(args.get("include_archived", "false")).lower() == "true"
        sql, params = "SELECT seq, custom, doc FROM data_attributes", []
        if model:
            sql, params = sql + " WHERE model = ?", [model]
        with self.store.connection() as db:
            rows = db.execute(sql + " ORDER BY model DESC, custom, seq", params).fetchall()
        data = [catalog.render_attribute(s, c, d) for s, c, d in rows]
        if not include_archived:
            data = [d for d in data if not d.get("archived")]
        return {"type": "list", "data": data}, len(data)

    def create_data_attribute(self, body: object) -> tuple[dict, int]:
        """POST /data_attributes: a custom attribute of contacts or companies."""
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        name, model, data_type = body.get("name"), body.get("model"), body.get("data_type")
        if not isinstance(name, str) or not catalog.NAME_RE.match(name):
            raise ParameterInvalid(
                "Your name for this attribute must only contain alphanumeric characters, currency symbols, and hyphens",
                field="name",
            )
        if model not in ("contact", "company"):
            raise ParameterInvalid("model must be contact or company", field="model")
        if data_type not in catalog.CREATE_DATA_TYPES:
            raise ParameterInvalid("Data Type isn't an option", field="data_type")
        _check_attribute_fields(body)
        extra: dict = {"description": body.get("description") or ""}
        if data_type == "options":
            extra["options"] = _option_values(body.get("options"))
        if "messenger_writable" in body:
            extra["messenger_writable"] = bool(body["messenger_writable"])
        stored_type = {"datetime": "date", "options": "string"}.get(data_type, data_type)
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM data_attributes WHERE model = ? AND name = ?", (model, name)).fetchone():
                what = "company" if model == "company" else "people"
                raise ParameterInvalid(
                    f"You already have '{name}' in your {what} data. To save this as new {what} data, use a different name.",
                    field="name",
                )
            admin = db.execute("SELECT id FROM admins ORDER BY id LIMIT 1").fetchone()
            extra["admin_id"] = admin[0] if admin else "0"
            doc = catalog.attribute_doc(model, name, stored_type, custom=True, now=self.now(), extra=extra)
            cur = db.execute(
                "INSERT INTO data_attributes(model, name, custom, doc) VALUES (?, ?, 1, ?)", (model, name, dumps(doc))
            )
            return catalog.render_attribute(cur.lastrowid, 1, dumps(doc)), 1

    def update_data_attribute(self, attr_id: str, body: object) -> tuple[dict, int]:
        """PUT /data_attributes/{id}: archived, description, options, messenger_writable."""
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        with self.store.transaction() as db:
            row = (
                db.execute("SELECT doc FROM data_attributes WHERE seq = ? AND custom = 1", (attr_id,)).fetchone()
                if str(attr_id).isdigit()
                else None
            )
            if row is None:
                raise NotFound("Resource Not Found")
            doc = json.loads(row[0])
            _check_attribute_fields(body)
            for key in ("archived", "description", "messenger_writable"):
                if body.get(key) is not None:  # null leaves the field as it is
                    doc[key] = body[key]
            if "options" in body:
                doc["options"] = _option_values(body["options"])
            doc["updated_at"] = self.now()
            db.execute("UPDATE data_attributes SET doc = ? WHERE seq = ?", (dumps(doc), attr_id))
            return catalog.render_attribute(int(attr_id), 1, dumps(doc)), 1


def _check_attribute_fields(body: dict) -> None:
    """400 parameter_invalid for a wrongly typed data attribute field (the description types each)."""
    for key in ("archived", "messenger_writable"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise ParameterInvalid(f"{key} must be a boolean (true or false)", field=key)
    if body.get("description") is not None and not isinstance(body["description"], str):
        raise ParameterInvalid("description must be a string", field="description")


def _option_values(options: object) -> list[str]:
    """The values of an ``options`` list (``[{"value": "1-10"}, ...]``, at least two)."""
    if not isinstance(options, list) or len(options) < 2:
        raise ParameterInvalid('options must be a list of at least two {"value": ...} objects', field="options")
    values = []
    for o in options:
        value = o.get("value") if isinstance(o, dict) else None
        if not isinstance(value, str) or not value:
            raise ParameterInvalid("each option must be an object with a non-empty string value", field="options")
        values.append(value)
    return values
