"""Bulk load of a load folder (``DIR/intercom/*.json[l]``) into the emulator's SQLite store.

Everything goes in inside one transaction and the indexes are built
afterwards. Contacts (the big table) are staged as raw lines in chunks and
normalized set-wise with SQLite's JSON functions, never parsed line by line in
Python. Embedded tag and company references of contacts and the contact
references of conversations become join-table rows. An optional
``segments.json`` lists segments with their members (``contact_ids``,
``company_ids``); without it the workspace has no segments. The date count
buckets (buckets.py) are rebuilt after the bulk insert.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from crmsandbox.errors import SandboxInputError
from crmsandbox.intercom import buckets, catalog
from crmsandbox.intercom.documents import (
    CONTACT_FIELDS,
    contact_text,
    dumps,
    normalize_company,
    normalize_conversation,
)
from crmsandbox.intercom.store import (
    INDEXES,
    LEGACY_INDEXES,
    SCHEMA_VERSION,
    Store,
    iter_jsonl,
    new_hex_id,
    read_json_list,
)

BATCH = 5000


def _batches(rows: Iterable, size: int = BATCH) -> Iterator[list]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _ref_ids(value: object, key: str = "id") -> list[str]:
    """Ids from an embedded list (``{"data": [{"id": …}]}``), a plain list of objects, or a list of ids."""
    if isinstance(value, dict):
        value = value.get("data", value.get("companies", value.get("tags", value.get("contacts", []))))
    out = []
    for item in value or []:
        if isinstance(item, dict):
            if item.get(key) is not None:
                out.append(str(item[key]))
        elif item is not None:
            out.append(str(item))
    return out


def contact_row(doc: dict) -> tuple:
    """The indexed columns of a contact document, in ``contacts`` column order."""
    return (
        doc["id"],
        doc["role"],
        doc["external_id"],
        doc["email"],
        doc["phone"],
        doc["name"],
        doc["owner_id"],
        doc["created_at"],
        doc["updated_at"],
        doc["signed_up_at"],
        doc["last_seen_at"],
        1 if doc.get("archived") else 0,
        contact_text(doc),
    )


CONTACT_INSERT = (
    "INSERT INTO contacts(id, role, external_id, email, phone, name, owner_id, created_at, updated_at,"
    " signed_up_at, last_seen_at, archived, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
COMPANY_INSERT = (
    "INSERT INTO companies(id, company_id, name, created_at, updated_at, last_request_at, doc) VALUES (?,?,?,?,?,?,?)"
)


def company_row(doc: dict) -> tuple:
    return (
        doc["id"],
        doc["company_id"],
        doc["name"],
        doc["created_at"],
        doc["updated_at"],
        doc["last_request_at"],
        dumps(doc),
    )


def load_folder(store: Store, load_dir: Path | None, *, now: int, app_id: str, fingerprint: str) -> dict:
    """Replace the store's content with the load folder's (or an empty workspace when ``load_dir`` is None)."""
    folder = Path(load_dir) / "intercom" if load_dir else None
    store.wipe()
    counts = {"contacts": 0, "companies": 0, "conversations": 0}
    with store.write_lock, store.connection() as db:
        db.execute("PRAGMA synchronous=OFF")
        for ix in INDEXES.splitlines():  # indexes are rebuilt after the bulk insert
            if ix.startswith("CREATE INDEX IF NOT EXISTS "):
                db.execute(f"DROP INDEX IF EXISTS {ix.split()[5]}")
        for name in LEGACY_INDEXES:
            db.execute(f"DROP INDEX IF EXISTS {name}")
        db.execute("BEGIN")
        try:
            admins = read_json_list(folder / "admins.json", "admins", "data") if folder else []
            if not admins:
                admins = [catalog.default_admin()]
            db.executemany(
                "INSERT INTO admins(id, doc) VALUES (?, ?)",
                [(str(a["id"]), dumps(catalog.normalize_admin(a))) for a in admins],
            )
            tags = read_json_list(folder / "tags.json", "data", "tags") if folder else []
            db.executemany("INSERT INTO tags(id, name) VALUES (?, ?)", [(int(t["id"]), str(t["name"])) for t in tags])
            tag_by_name = {str(t["name"]).lower(): int(t["id"]) for t in tags}
            attrs = read_json_list(folder / "data_attributes.json", "data") if folder else []
            catalog.insert_data_attributes(db, attrs, now)
            company_seq: dict[str, int] = {}
            if folder:
                counts["companies"] = _load_companies(db, folder / "companies.jsonl", app_id, now, company_seq)
                counts["contacts"] = _load_contacts(
                    db, folder / "contacts.jsonl", app_id, now, company_seq, tag_by_name
                )
                counts["conversations"] = _load_conversations(db, folder / "conversations.jsonl", now)
                counts["segments"] = _load_segments(db, folder / "segments.json", now)
            store.set_meta(db, "app_id", app_id)
            store.set_meta(db, "load_fingerprint", fingerprint)
            store.set_meta(db, "schema_version", SCHEMA_VERSION)
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(INDEXES)
        db.execute("BEGIN")
        buckets.rebuild(db)  # count buckets and their triggers, after the bulk insert
        db.commit()
        db.execute("ANALYZE")
    store.generation += 1
    return counts


def _load_companies(db: sqlite3.Connection, path: Path, app_id: str, now: int, seqs: dict[str, int]) -> int:
    n = 0
    tag_rows: list[tuple[str, list[str]]] = []

    def rows() -> Iterator[tuple]:
        nonlocal n
        for obj in iter_jsonl(path):
            obj.setdefault("id", new_hex_id())
            if obj.get("company_id") is None:
                raise SandboxInputError(
                    f"{path}: company {obj['id']} has no company_id", hint="every company needs one"
                )
            obj.setdefault("created_at", now)
            obj.setdefault("updated_at", obj["created_at"])
            doc = normalize_company(obj, app_id)
            tag_ids = _ref_ids((obj.get("tags") or {}).get("tags") if isinstance(obj.get("tags"), dict) else [])
            if tag_ids:
                tag_rows.append((doc["id"], tag_ids))
            n += 1
            yield company_row(doc)

    for chunk in _batches(rows()):
        db.executemany(COMPANY_INSERT, chunk)
    for cid, seq in db.execute("SELECT id, seq FROM companies"):
        seqs[cid] = seq
    db.executemany(
        "INSERT OR IGNORE INTO company_tags(company_seq, tag_id) VALUES (?, ?)",
        [(seqs[c], int(t)) for c, ts in tag_rows for t in ts],
    )
    return n


STAGE_CHUNK = 50_000

# Defaults for absent standard keys (json_insert leaves present keys alone).
_NULL_KEYS = [k for k, v in CONTACT_FIELDS.items() if v is None and k not in ("id", "email", "email_domain")]
_DEFAULTS = ", ".join(f"'$.{k}', NULL" for k in _NULL_KEYS)
_LOCATION = '{"type":"location","country":null,"region":null,"city":null,"country_code":null,"continent_code":null}'

# The stored document of a staged contact line, normalized step by step in SQLite's C JSON functions (a
# per-line parse/normalize/dump in Python was the bottleneck of loading a million contacts). Each step is
# its own UPDATE: nested subqueries would be flattened and re-evaluate the inner JSON expressions.
_NORMALIZE_STEPS = [
    f"""UPDATE stage SET archived = json_extract(line, '$.archived'),
      d = json_set(json_insert(
          json_remove(line, '$.tags', '$.companies', '$.notes', '$.opted_in_subscription_types',
                      '$.opted_out_subscription_types', '$.archived'),
          '$.type', 'contact', '$.workspace_id', :app_id, '$.role', 'user', '$.created_at', :now,
          '$.has_hard_bounced', json('false'), '$.marked_email_as_spam', json('false'),
          '$.unsubscribed_from_emails', json('false'),
          '$.social_profiles', json('{{"type":"list","data":[]}}'),
          '$.location', json(coalesce(json_extract(line, '$.location'), '{_LOCATION}')),
          {_DEFAULTS}),
          '$.custom_attributes', coalesce(json_extract(line, '$.custom_attributes'), json('{{}}')))""",
    # updated_at defaults to created_at (step 1 may have inserted it as null, so coalesce, not json_insert)
    """UPDATE stage SET d = json_set(d, '$.updated_at', coalesce(json_extract(d, '$.updated_at'), json_extract(d, '$.created_at')),
        '$.email_domain', coalesce(json_extract(d, '$.email_domain'),
                                   nullif(substr(json_extract(d, '$.email'), instr(json_extract(d, '$.email'), '@') + 1), '')))""",
    # booleans the schema declares non-nullable: an absent value is false
    """UPDATE stage SET d = json_set(d,
        '$.has_hard_bounced', json(CASE WHEN json_extract(d, '$.has_hard_bounced') THEN 'true' ELSE 'false' END),
        '$.marked_email_as_spam', json(CASE WHEN json_extract(d, '$.marked_email_as_spam') THEN 'true' ELSE 'false' END),
        '$.unsubscribed_from_emails',
        json(CASE WHEN json_extract(d, '$.unsubscribed_from_emails') THEN 'true' ELSE 'false' END))""",
    """UPDATE stage SET d = json_set(d, '$.owner_id', CAST(json_extract(d, '$.owner_id') AS TEXT))
       WHERE json_type(d, '$.owner_id') IN ('integer', 'real')""",
    "UPDATE stage SET d = json_remove(d, '$.email', '$.email_domain') WHERE json_extract(d, '$.email') IS NULL",
    "UPDATE stage SET d = json_remove(d, '$.email_domain') WHERE json_type(d, '$.email_domain') = 'null'",
]

_INSERT_STAGED = """
INSERT INTO contacts(id, role, external_id, email, phone, name, owner_id, created_at, updated_at,
                     signed_up_at, last_seen_at, archived, doc)
SELECT json_extract(d, '$.id'), json_extract(d, '$.role'), CAST(json_extract(d, '$.external_id') AS TEXT),
  json_extract(d, '$.email'), CAST(json_extract(d, '$.phone') AS TEXT), json_extract(d, '$.name'),
  json_extract(d, '$.owner_id'), json_extract(d, '$.created_at'), json_extract(d, '$.updated_at'),
  json_extract(d, '$.signed_up_at'), json_extract(d, '$.last_seen_at'),
  CASE WHEN archived IN (1, 'true') THEN 1 ELSE 0 END, d
FROM stage ORDER BY n
"""

_ITEM_ID = "CASE j.type WHEN 'object' THEN CAST(json_extract(j.value, '$.id') AS TEXT) ELSE CAST(j.value AS TEXT) END"
_LIST_PATH = "CASE json_type(s.line, '$.{key}') WHEN 'array' THEN '$.{key}' ELSE '$.{key}.data' END"

_LINK_COMPANIES = f"""
INSERT OR IGNORE INTO contact_companies(contact_seq, company_seq)
SELECT c.seq, co.seq
FROM stage s JOIN contacts c ON c.id = json_extract(s.line, '$.id'),
     json_each(s.line, {_LIST_PATH.format(key="companies")}) j
     JOIN companies co ON co.id = {_ITEM_ID}
WHERE json_type(s.line, '$.companies') IS NOT NULL
"""

_LINK_TAGS = f"""
INSERT OR IGNORE INTO contact_tags(contact_seq, tag_id, applied_at)
SELECT c.seq, t.id, :now
FROM stage s JOIN contacts c ON c.id = json_extract(s.line, '$.id'),
     json_each(s.line, {_LIST_PATH.format(key="tags")}) j
     JOIN tags t ON t.id = CAST({_ITEM_ID} AS INTEGER)
        OR (j.type = 'object' AND json_extract(j.value, '$.id') IS NULL AND t.name = json_extract(j.value, '$.name'))
WHERE json_type(s.line, '$.tags') IS NOT NULL
"""


def _load_contacts(
    db: sqlite3.Connection, path: Path, app_id: str, now: int, company_seq: dict[str, int], tag_by_name: dict
) -> int:
    """Stage raw lines, check them, then normalize and insert them set-wise in SQLite."""
    if not path.exists():
        return 0
    db.execute("CREATE TEMP TABLE IF NOT EXISTS stage(n INTEGER PRIMARY KEY, line TEXT NOT NULL, archived, d TEXT)")
    n = 0
    with open(path, encoding="utf-8") as fh:
        numbered = ((i, line) for i, line in enumerate(fh, 1) if line.strip())
        for chunk in _batches(numbered, STAGE_CHUNK):
            db.execute("DELETE FROM stage")
            db.executemany("INSERT INTO stage(n, line) VALUES (?, ?)", chunk)
            _check_stage(db, path)
            db.execute(
                "UPDATE stage SET line = json_set(line, '$.id', lower(hex(randomblob(12))))"
                " WHERE json_extract(line, '$.id') IS NULL"
            )
            for step in _NORMALIZE_STEPS:
                db.execute(step, {"app_id": app_id, "now": now})
            try:
                db.execute(_INSERT_STAGED)
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" in str(exc):
                    raise SandboxInputError(
                        f"{path}: duplicate contact ids", hint="contact ids must be unique"
                    ) from None
                raise SandboxInputError(
                    f"{path}: a contact lacks a required value ({exc})", hint="check the lines of this file"
                ) from None
            db.execute(_LINK_COMPANIES)
            db.execute(_LINK_TAGS, {"now": now})
            n += len(chunk)
    db.execute("DELETE FROM stage")
    return n


def _check_stage(db: sqlite3.Connection, path: Path) -> None:
    """One clear message for the first bad line of the staged chunk."""
    bad = db.execute(
        "SELECT n FROM stage WHERE NOT json_valid(line) OR json_type(line) != 'object' ORDER BY n LIMIT 1"
    ).fetchone()
    if bad:
        raise SandboxInputError(
            f"{path}:{bad[0]}: expected one JSON object per line", hint="regenerate the load folder"
        )
    bad = db.execute(
        "SELECT n, json_extract(line, '$.role') FROM stage"
        " WHERE coalesce(json_extract(line, '$.role'), 'user') NOT IN ('user', 'lead') ORDER BY n LIMIT 1"
    ).fetchone()
    if bad:
        raise SandboxInputError(f"{path}:{bad[0]}: contact role {bad[1]!r}", hint="a contact's role is user or lead")
    bad = db.execute(
        "SELECT s.n FROM stage s JOIN contacts c ON c.id = json_extract(s.line, '$.id') ORDER BY s.n LIMIT 1"
    ).fetchone()
    if bad:
        raise SandboxInputError(f"{path}:{bad[0]}: duplicate contact id", hint="contact ids must be unique")


def _load_conversations(db: sqlite3.Connection, path: Path, now: int) -> int:
    n = 0
    for chunk in _batches(iter_jsonl(path), 1000):
        rows, contacts = [], []
        for obj in chunk:
            if obj.get("id") is None:
                raise SandboxInputError(
                    f"{path}: a conversation has no id", hint="conversation ids are numeric strings"
                )
            obj.setdefault("created_at", now)
            obj.setdefault("updated_at", obj["created_at"])
            doc, parts = normalize_conversation(obj)
            rows.append((doc["id"], doc["created_at"], doc["updated_at"], doc.get("state"), dumps(doc), dumps(parts)))
            contacts.append((doc["id"], _ref_ids(doc.get("contacts"))))
        db.executemany(
            "INSERT INTO conversations(id, created_at, updated_at, state, doc, parts) VALUES (?,?,?,?,?,?)", rows
        )
        marks = ",".join("?" * len(contacts))
        seq_of = dict(
            db.execute(f"SELECT id, seq FROM conversations WHERE id IN ({marks})", [c for c, _ in contacts])  # noqa: S608
        )
        db.executemany(
            "INSERT OR IGNORE INTO conversation_contacts(conversation_seq, contact_id) VALUES (?, ?)",
            [(seq_of[c], k) for c, ks in contacts for k in ks],
        )
        n += len(rows)
    return n


def _load_segments(db: sqlite3.Connection, path: Path, now: int) -> int:
    """``segments.json`` (optional): [{id, name, person_type?, created_at?, updated_at?, contact_ids?, company_ids?}]."""
    segments = read_json_list(path, "segments", "data")
    for i, seg in enumerate(segments):
        where = f"{path}: segment {i + 1}"
        if not isinstance(seg, dict) or not isinstance(seg.get("id"), str) or not isinstance(seg.get("name"), str):
            raise SandboxInputError(
                f"{where}: needs a string 'id' and 'name'", hint="see ARCHITECTURE.md, load folder format"
            )
        person_type = seg.get("person_type", "user")
        if person_type not in ("user", "contact"):
            raise SandboxInputError(f"{where}: person_type {person_type!r}", hint="use user or contact (leads)")
        created = seg.get("created_at", now)
        try:
            db.execute(
                "INSERT INTO segments(id, name, person_type, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (seg["id"], seg["name"], person_type, created, seg.get("updated_at", created)),
            )
        except sqlite3.IntegrityError:
            raise SandboxInputError(
                f"{where}: duplicate segment id {seg['id']!r}", hint="segment ids must be unique"
            ) from None
        for key, table, column, source in (
            ("contact_ids", "contact_segments", "contact_seq", "contacts"),
            ("company_ids", "company_segments", "company_seq", "companies"),
        ):
            ids = [str(x) for x in seg.get(key) or []]
            found = 0
            for chunk in _batches(ids, 500):
                marks = ",".join("?" * len(chunk))
                found += db.execute(
                    f"INSERT OR IGNORE INTO {table}(segment_id, {column})"  # noqa: S608 (fixed names)
                    f" SELECT ?, seq FROM {source} WHERE id IN ({marks})",
                    [seg["id"], *chunk],
                ).rowcount
            if found != len(set(ids)):
                raise SandboxInputError(f"{where} ({seg['id']}): {key} names records that are not in the load folder")
    return len(segments)
