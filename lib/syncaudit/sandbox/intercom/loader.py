"""Bulk load of a load folder (``DIR/intercom/*.json[l]``) into the emulator's SQLite store.

Rows go in with ``executemany`` in batches inside one transaction, and the
indexes are built afterwards, so a million contacts load in well under a
minute. Embedded tag and company references of contacts and the contact
references of conversations become join-table rows.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from syncaudit.errors import ConfigError
from syncaudit.sandbox.intercom import catalog
from syncaudit.sandbox.intercom.documents import dumps, normalize_company, normalize_contact, normalize_conversation
from syncaudit.sandbox.intercom.store import INDEXES, SCHEMA_VERSION, Store, iter_jsonl, new_hex_id, read_json_list

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
        dumps(doc),
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
        for ix in INDEXES.strip().splitlines():  # indexes are rebuilt after the bulk insert
            db.execute(f"DROP INDEX IF EXISTS {ix.split()[5]}")
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
                raise ConfigError(f"{path}: company {obj['id']} has no company_id", hint="every company needs one")
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


def _load_contacts(
    db: sqlite3.Connection, path: Path, app_id: str, now: int, company_seq: dict[str, int], tag_by_name: dict
) -> int:
    n = 0
    for chunk in _batches(iter_jsonl(path)):
        links: list[tuple[str, list[str], list[int]]] = []
        rows = []
        for obj in chunk:
            obj.setdefault("id", new_hex_id())
            obj.setdefault("created_at", now)
            obj.setdefault("updated_at", obj["created_at"])
            if obj.get("role") not in (None, "user", "lead"):
                raise ConfigError(f"{path}: contact {obj['id']} has role {obj['role']!r}", hint="use user or lead")
            doc = normalize_contact(obj, app_id)
            doc["archived"] = bool(obj.get("archived"))
            rows.append(contact_row(doc))
            tags = []
            for t in _ref_ids(obj.get("tags")):
                tags.append(int(t) if t.isdigit() else tag_by_name.get(t.lower(), -1))
            companies = _ref_ids(obj.get("companies"))
            if tags or companies:
                links.append((doc["id"], companies, tags))
        db.executemany(CONTACT_INSERT, rows)
        n += len(rows)
        if links:
            ids = [cid for cid, _, _ in links]
            marks = ",".join("?" * len(ids))
            seq_of = dict(db.execute(f"SELECT id, seq FROM contacts WHERE id IN ({marks})", ids))  # noqa: S608
            db.executemany(
                "INSERT OR IGNORE INTO contact_companies(contact_seq, company_seq) VALUES (?, ?)",
                [(seq_of[cid], company_seq[co]) for cid, cos, _ in links for co in cos if co in company_seq],
            )
            db.executemany(
                "INSERT OR IGNORE INTO contact_tags(contact_seq, tag_id, applied_at) VALUES (?, ?, ?)",
                [(seq_of[cid], t, now) for cid, _, ts in links for t in ts if t >= 0],
            )
    return n


def _load_conversations(db: sqlite3.Connection, path: Path, now: int) -> int:
    n = 0
    for chunk in _batches(iter_jsonl(path), 1000):
        rows, contacts = [], []
        for obj in chunk:
            if obj.get("id") is None:
                raise ConfigError(f"{path}: a conversation has no id", hint="conversation ids are numeric strings")
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


def json_or_none(text: str | None) -> object:
    return json.loads(text) if text else None
