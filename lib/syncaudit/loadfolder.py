"""Read a load folder (what `syncaudit sandbox generate` writes) into the snapshot layout.

The audit and its benchmarks run on generated org pairs without going through the
APIs: this module converts ``DIR/salesforce/*.csv`` and ``DIR/intercom/*.jsonl`` into
``<out>/salesforce/<Object>.parquet`` (+ ``describe/<Object>.json``) and
``<out>/intercom/<name>.parquet`` (+ ``data_attributes.json``) with the columns of
docs/contracts.md, all inside DuckDB (no per-row Python). :class:`SnapshotDir` reads
any folder of that layout (a converted load folder or a pulled snapshot).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from syncaudit.connectors.intercom.convert import LOCATION_PARTS
from syncaudit.errors import ConfigError

SF_OBJECTS = ("Account", "Contact", "Lead", "Task", "Case", "User")
SF_ID_PREFIX = {"Account": "001", "Contact": "003", "Lead": "00Q", "Task": "00T", "Case": "500", "User": "005"}

_COMMON = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "CreatedById": "reference",
    "LastModifiedDate": "datetime",
    "LastModifiedById": "reference",
    "SystemModstamp": "datetime",
    "OwnerId": "reference",
    "MasterRecordId": "reference",
}
# Standard fields whose type is not "string" (per the Salesforce object reference).
_STANDARD_TYPES: dict[str, dict[str, str]] = {
    "Lead": {
        "Email": "email",
        "Phone": "phone",
        "MobilePhone": "phone",
        "Website": "url",
        "Street": "textarea",
        "Description": "textarea",
        "LeadSource": "picklist",
        "Status": "picklist",
        "Industry": "picklist",
        "Rating": "picklist",
        "AnnualRevenue": "currency",
        "NumberOfEmployees": "int",
        "HasOptedOutOfEmail": "boolean",
        "DoNotCall": "boolean",
        "IsConverted": "boolean",
        "ConvertedDate": "date",
        "ConvertedAccountId": "reference",
        "ConvertedContactId": "reference",
        "ConvertedOpportunityId": "reference",
        "IsUnreadByOwner": "boolean",
        "LastActivityDate": "date",
        "EmailBouncedDate": "datetime",
    },
    "Contact": {
        "AccountId": "reference",
        "Email": "email",
        "Phone": "phone",
        "MobilePhone": "phone",
        "MailingStreet": "textarea",
        "LeadSource": "picklist",
        "Description": "textarea",
        "HasOptedOutOfEmail": "boolean",
        "DoNotCall": "boolean",
        "Birthdate": "date",
        "LastActivityDate": "date",
    },
    "Account": {
        "Type": "picklist",
        "Industry": "picklist",
        "Website": "url",
        "Phone": "phone",
        "BillingStreet": "textarea",
        "NumberOfEmployees": "int",
        "AnnualRevenue": "currency",
        "ParentId": "reference",
        "Description": "textarea",
        "LastActivityDate": "date",
    },
    "Task": {
        "WhoId": "reference",
        "WhatId": "reference",
        "ActivityDate": "date",
        "Status": "picklist",
        "Priority": "picklist",
        "Description": "textarea",
        "TaskSubtype": "picklist",
        "IsClosed": "boolean",
        "Subject": "combobox",
    },
    "Case": {
        "AccountId": "reference",
        "ContactId": "reference",
        "Description": "textarea",
        "Status": "picklist",
        "Priority": "picklist",
        "Origin": "picklist",
        "IsClosed": "boolean",
        "ClosedDate": "datetime",
        "SuppliedEmail": "email",
    },
    "User": {"IsActive": "boolean", "Email": "email"},
}
_STANDARD_LENGTH = {"FirstName": 40, "LastName": 80, "Email": 80, "AccountNumber": 40, "Name": 255, "Title": 128}

# Intercom standard attributes of the contact and company models (name -> data_type).
IC_STANDARD = {
    "contact": {
        "id": "string",
        "role": "string",
        "external_id": "string",
        "email": "string",
        "phone": "string",
        "name": "string",
        "owner_id": "string",
        "created_at": "date",
        "updated_at": "date",
        "signed_up_at": "date",
        "last_seen_at": "date",
    },
    "company": {
        "id": "string",
        "company_id": "string",
        "name": "string",
        "website": "string",
        "industry": "string",
        "size": "integer",
        "user_count": "integer",
        "monthly_spend": "float",
        "plan": "string",
        "created_at": "date",
        "updated_at": "date",
        "remote_created_at": "date",
    },
}

_SQL_BY_SF_TYPE = {
    "boolean": "BOOLEAN",
    "datetime": "TIMESTAMPTZ",
    "date": "DATE",
    "double": "DOUBLE",
    "currency": "DOUBLE",
    "percent": "DOUBLE",
    "int": "DOUBLE",
}
_SQL_BY_IC_TYPE = {"integer": "BIGINT", "float": "DOUBLE", "boolean": "BOOLEAN", "date": "TIMESTAMPTZ"}


def q(name: str) -> str:
    """Quote a SQL identifier (names come from configs and data, so always quote)."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _read_json_file(path: Path, key: str | None = None) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON ({exc})", file=str(path), hint="regenerate the load folder") from None
    if isinstance(data, dict):
        data = data.get(key or "data") or data.get("data") or []
    return list(data)


def generated_id_sql(obj: str) -> str:
    """The Id of a row of a CSV without an Id column (e.g. field history): numbered in file order."""
    prefix = SF_ID_PREFIX.get(obj, "a00")
    return f"{lit(prefix)} || lpad(CAST(row_number() OVER () AS VARCHAR), 12, '0') || 'AAA'"


def _describe(obj: str, columns: list[str], extra: list[dict[str, Any]]) -> dict[str, Any]:
    """A describe result for a load-folder object: standard types, plus schema.json's custom fields."""
    types = {**_COMMON, **_STANDARD_TYPES.get(obj, {})}
    fields: dict[str, dict[str, Any]] = {}
    for c in columns:
        t = types.get(c, "string")
        if c.endswith("Id") and c not in types:
            t = "reference"
        fields[c] = {
            "name": c,
            "type": t,
            "length": _STANDARD_LENGTH.get(c, 255 if t in {"string", "email", "phone", "url", "picklist"} else 0),
            "custom": c.endswith("__c"),
            "externalId": False,
            "unique": False,
            "picklistValues": [],
            "restrictedPicklist": False,
        }
    for f in extra:
        base = fields.get(f["name"], {})
        merged = {**base, **f, "custom": True}
        merged.setdefault("length", 0)
        merged["picklistValues"] = [
            p if isinstance(p, dict) else {"value": p, "label": p, "active": True} for p in f.get("picklistValues", [])
        ]
        fields[f["name"]] = merged
    return {"name": obj, "fields": list(fields.values())}


def _convert_salesforce(con: duckdb.DuckDBPyConnection, src: Path, out: Path) -> None:
    (out / "describe").mkdir(parents=True, exist_ok=True)
    schema: dict[str, list[dict[str, Any]]] = {}
    schema_file = src / "schema.json"
    if schema_file.is_file():
        raw = json.loads(schema_file.read_text(encoding="utf-8"))
        # Accept {Object: [fields]} or [{object, fields}] shapes.
        if isinstance(raw, dict):
            schema = {k: (v.get("fields", v) if isinstance(v, dict) else v) for k, v in raw.items()}
        else:
            schema = {o.get("object") or o.get("name"): o.get("fields", []) for o in raw}
    names = sorted({p.stem for p in src.glob("*.csv")} | set(SF_OBJECTS))
    for obj in names:
        csv = src / f"{obj}.csv"
        if csv.is_file():
            # a view, not a table: the COPY below streams the file instead of holding it
            con.execute("DROP VIEW IF EXISTS raw")
            con.execute(
                f"CREATE TEMP VIEW raw AS SELECT * FROM read_csv({lit(str(csv))}, header=true, "
                "all_varchar=true, quote='\"', escape='\"', nullstr='', sample_size=-1)"
            )
            cols = [r[0] for r in con.execute("DESCRIBE raw").fetchall()]
        else:
            con.execute("DROP VIEW IF EXISTS raw")
            con.execute("CREATE TEMP VIEW raw AS SELECT NULL::VARCHAR AS Id WHERE false")
            cols = ["Id"]
        if "Id" not in cols:
            con.execute(f"CREATE OR REPLACE TEMP TABLE numbered AS SELECT {generated_id_sql(obj)} AS Id, * FROM raw")
            con.execute("DROP VIEW raw")
            con.execute("CREATE TEMP VIEW raw AS SELECT * FROM numbered")
            cols = ["Id", *cols]
        describe = _describe(obj, cols, schema.get(obj, []))
        ftypes = {f["name"]: f["type"] for f in describe["fields"]}
        select = []
        for c in cols:
            sql_t = _SQL_BY_SF_TYPE.get(ftypes.get(c, "string"))
            if sql_t == "BOOLEAN":
                select.append(f"(lower(trim({q(c)})) IN ('true','1','yes')) AS {q(c)}")
            elif sql_t:
                select.append(f"TRY_CAST({q(c)} AS {sql_t}) AS {q(c)}")
            else:
                select.append(q(c))
        if "IsDeleted" not in cols:
            select.append("false AS IsDeleted")
            describe["fields"].append({"name": "IsDeleted", "type": "boolean", "length": 0, "custom": False})
        if obj in {"Contact", "Lead"} and "Name" not in cols and {"FirstName", "LastName"} <= set(cols):
            # Name is a compound read-only field in Salesforce; the API returns it, a CSV may not carry it.
            select.append("nullif(concat_ws(' ', FirstName, LastName), '') AS Name")
            describe["fields"].append({"name": "Name", "type": "string", "length": 121, "custom": False})
        target = out / f"{obj}.parquet"
        con.execute(f"COPY (SELECT {', '.join(select)} FROM raw) TO {lit(str(target))} (FORMAT parquet)")
        (out / "describe" / f"{obj}.json").write_text(json.dumps(describe, indent=1), encoding="utf-8")


def _ic_attrs(data_attributes: list[dict[str, Any]], model: str) -> dict[str, str]:
    """Custom attribute name -> data_type for one Intercom model."""
    return {
        a["name"]: a.get("data_type", "string")
        for a in data_attributes
        if a.get("model", model) == model
        and a.get("custom", str(a.get("full_name", "")).startswith("custom_attributes."))
    }


def _ic_custom_select(con: duckdb.DuckDBPyConnection, table: str, attrs: dict[str, str]) -> list[str]:
    # Keys seen in the data but not declared as data attributes still become (string) columns.
    seen = con.execute(
        f"SELECT DISTINCT unnest(json_keys(j->'custom_attributes')) FROM {table} WHERE (j->'custom_attributes') IS NOT NULL"
    ).fetchall()
    names = dict(attrs)
    for (k,) in seen:
        names.setdefault(k, "string")
    out = []
    for name, dtype in sorted(names.items()):
        path = "$.custom_attributes." + json.dumps(name)
        expr = f"json_extract_string(j, {lit(path)})"
        if dtype == "date":
            expr = f"to_timestamp(TRY_CAST({expr} AS DOUBLE))"
        elif dtype in _SQL_BY_IC_TYPE:
            expr = f"TRY_CAST({expr} AS {_SQL_BY_IC_TYPE[dtype]})"
        out.append(f"{expr} AS {q('custom_attributes.' + name)}")
    return out


def _ts(path: str) -> str:
    return f"to_timestamp(TRY_CAST(json_extract_string(j, {lit(path)}) AS DOUBLE))"


def _s(path: str) -> str:
    return f"json_extract_string(j, {lit(path)})"


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> None:
    """``table`` as a view over the file: each COPY streams it (parsing again beats holding ten million
    objects)."""
    con.execute(f"DROP VIEW IF EXISTS {table}")
    if path.is_file() and path.stat().st_size > 0:
        con.execute(
            f"CREATE TEMP VIEW {table} AS SELECT json AS j FROM "
            f"read_json_objects({lit(str(path))}, format='auto', maximum_object_size=67108864)"
        )
    else:
        con.execute(f"CREATE TEMP VIEW {table} AS SELECT NULL::JSON AS j WHERE false")


def _convert_intercom(con: duckdb.DuckDBPyConnection, src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data_attributes = _read_json_file(src / "data_attributes.json")
    (out / "data_attributes.json").write_text(json.dumps(data_attributes, indent=1), encoding="utf-8")
    tags = _read_json_file(src / "tags.json")
    (out / "tags.json").write_text(
        json.dumps([{"id": str(t.get("id")), "name": t.get("name")} for t in tags], indent=1), encoding="utf-8"
    )
    # Tag items on a contact may carry only the tag id: names come from tags.json (small), as a MAP literal.
    pairs = [(str(t.get("id")), t.get("name")) for t in tags if t.get("name") is not None]
    if pairs:
        keys = ", ".join(lit(k) for k, _ in pairs)
        vals = ", ".join(lit(v) for _, v in pairs)
        lookup = f"coalesce(MAP([{keys}], [{vals}])[t->>'id'], t->>'id')"
    else:
        lookup = "t->>'id'"
    tag_names = f"list_transform(json_extract(j, '$.tags.data[*]'), lambda t: coalesce(t->>'name', {lookup}))"

    _read_jsonl(con, src / "contacts.jsonl", "ic_raw")
    cols = [
        f"{_s('$.id')} AS id",
        f"{_s('$.role')} AS role",
        f"{_s('$.external_id')} AS external_id",
        f"{_s('$.email')} AS email",
        f"{_s('$.phone')} AS phone",
        f"{_s('$.name')} AS name",
        f"{_s('$.owner_id')} AS owner_id",
        f"{_ts('$.created_at')} AS created_at",
        f"{_ts('$.updated_at')} AS updated_at",
        f"{_ts('$.signed_up_at')} AS signed_up_at",
        f"{_ts('$.last_seen_at')} AS last_seen_at",
        "coalesce(TRY_CAST(json_extract(j, '$.archived') AS BOOLEAN), false) AS archived",
        *(f"nullif(trim({_s(f'$.location.{part}')}), '') AS {q(f'location.{part}')}" for part in LOCATION_PARTS),
        *_ic_custom_select(con, "ic_raw", _ic_attrs(data_attributes, "contact")),
        f"coalesce({tag_names}, []::VARCHAR[]) AS tags",
        "coalesce(json_extract_string(j, '$.companies.data[*].id'), []::VARCHAR[]) AS company_ids",
    ]
    contacts = lit(str(out / "contacts.parquet"))
    con.execute(f"COPY (SELECT {', '.join(cols)} FROM ic_raw) TO {contacts} (FORMAT parquet)")
    con.execute(
        f"COPY (SELECT id AS contact_id, unnest(company_ids) AS company_id FROM read_parquet({contacts})) "
        f"TO {lit(str(out / 'contact_companies.parquet'))} (FORMAT parquet)"
    )

    _read_jsonl(con, src / "companies.jsonl", "ic_raw")
    cols = [
        f"{_s('$.id')} AS id",
        f"{_s('$.company_id')} AS company_id",
        f"{_s('$.name')} AS name",
        f"{_s('$.website')} AS website",
        f"{_s('$.industry')} AS industry",
        f"TRY_CAST({_s('$.size')} AS BIGINT) AS size",
        f"TRY_CAST({_s('$.user_count')} AS BIGINT) AS user_count",
        f"TRY_CAST({_s('$.monthly_spend')} AS DOUBLE) AS monthly_spend",
        f"coalesce({_s('$.plan.name')}, {_s('$.plan')}) AS plan",
        f"{_ts('$.created_at')} AS created_at",
        f"{_ts('$.updated_at')} AS updated_at",
        f"{_ts('$.remote_created_at')} AS remote_created_at",
        *_ic_custom_select(con, "ic_raw", _ic_attrs(data_attributes, "company")),
    ]
    con.execute(
        f"COPY (SELECT {', '.join(cols)} FROM ic_raw) TO {lit(str(out / 'companies.parquet'))} (FORMAT parquet)"
    )

    _read_jsonl(con, src / "conversations.jsonl", "ic_raw")
    cols = [
        f"{_s('$.id')} AS id",
        f"{_s('$.state')} AS state",
        f"TRY_CAST({_s('$.open')} AS BOOLEAN) AS open",
        f"{_ts('$.created_at')} AS created_at",
        f"{_ts('$.updated_at')} AS updated_at",
        f"{_s('$.title')} AS title",
        f"{_s('$.admin_assignee_id')} AS admin_assignee_id",
        "coalesce(json_extract_string(j, '$.contacts.contacts[*].id'), []::VARCHAR[]) AS contact_ids",
        "coalesce(json_extract_string(j, '$.tags.tags[*].name'), []::VARCHAR[]) AS tags",
        f"{_s('$.source.type')} AS source_type",
        f"TRY_CAST(coalesce({_s('$.statistics.count_conversation_parts')}, "
        f"{_s('$.conversation_parts.total_count')}) AS BIGINT) AS parts_count",
    ]
    con.execute(
        f"COPY (SELECT {', '.join(cols)} FROM ic_raw) TO {lit(str(out / 'conversations.parquet'))} (FORMAT parquet)"
    )
    con.execute(
        "COPY (SELECT conversation_id, p->>'id' AS id, p->>'part_type' AS part_type, "
        "p->'author'->>'type' AS author_type, p->'author'->>'id' AS author_id, "
        "to_timestamp(TRY_CAST(p->>'created_at' AS DOUBLE)) AS created_at FROM ("
        "SELECT json_extract_string(j, '$.id') AS conversation_id, "
        "unnest(coalesce(json_extract(j, '$.conversation_parts.conversation_parts[*]'), []::JSON[])) AS p FROM ic_raw)) "
        f"TO {lit(str(out / 'conversation_parts.parquet'))} (FORMAT parquet)"
    )
    admins = _read_json_file(src / "admins.json", "admins")
    con.execute("CREATE OR REPLACE TEMP TABLE adm(id VARCHAR, name VARCHAR, email VARCHAR)")
    if admins:
        con.executemany(
            "INSERT INTO adm VALUES (?, ?, ?)", [(str(a.get("id")), a.get("name"), a.get("email")) for a in admins]
        )
    con.execute(f"COPY adm TO {lit(str(out / 'admins.parquet'))} (FORMAT parquet)")


def _fingerprint(src: Path) -> str:
    """Names, sizes and modification times of the load folder's files."""
    import hashlib

    parts = sorted(
        f"{p.relative_to(src)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in src.rglob("*") if p.is_file()
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def convert_load_folder(load_dir: str | Path, out_dir: str | Path, cfg: Any = None) -> SnapshotDir:
    """Convert a load folder into the snapshot layout at ``out_dir`` and open it.

    Written into ``<out_dir>.partial`` and renamed at the end, so a failed run leaves nothing half-written.
    DuckDB works within ``audit.memory_limit`` of ``cfg`` (the default limit without one), spilling above it.
    """
    src, out = Path(load_dir), Path(out_dir)
    fingerprint = _fingerprint(src)
    done = out / "manifest.json"
    if done.is_file():
        # Converting a million-record folder takes minutes: reuse a conversion of the same files.
        old = json.loads(done.read_text(encoding="utf-8"))
        if old.get("status") == "complete" and old.get("load_fingerprint") == fingerprint:
            return SnapshotDir(out)
    if not (src / "salesforce").is_dir() and not (src / "intercom").is_dir():
        raise ConfigError(
            "not a load folder (no salesforce/ or intercom/ inside)",
            file=str(src),
            hint="pass a folder written by `syncaudit sandbox generate --out DIR`",
        )
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "salesforce").mkdir(parents=True)
    from syncaudit.duckdb_resources import configure_duckdb

    con = duckdb.connect()
    try:
        configure_duckdb(con, cfg, keep_order=True)  # ids are numbered in file order
        _convert_salesforce(con, src / "salesforce", partial / "salesforce")
        _convert_intercom(con, src / "intercom", partial / "intercom")
    except duckdb.OutOfMemoryException as exc:
        from syncaudit.duckdb_resources import out_of_memory

        shutil.rmtree(partial, ignore_errors=True)
        raise out_of_memory(exc, cfg) from None
    except duckdb.Error as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ConfigError(
            f"cannot read the load folder: {exc}", file=str(src), hint="check the CSV/JSONL files"
        ) from None
    finally:
        con.close()
    manifest: dict[str, Any] = {
        "id": out.name,
        "status": "complete",
        "source": "load_folder",
        "load_dir": str(src.resolve()),
        "load_fingerprint": fingerprint,
    }
    truth = src / "truth.json"
    if truth.is_file():
        # A generated org pair is "as of" the generator's clock: that is when the snapshot was taken.
        as_of = json.loads(truth.read_text(encoding="utf-8")).get("generator", {}).get("as_of")
        if as_of:
            manifest["started_at"] = as_of
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return SnapshotDir(out)


@dataclass
class SnapshotDir:
    """A folder in the snapshot layout of docs/contracts.md (pulled or converted)."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        mf = self.path / "manifest.json"
        self.manifest: dict[str, Any] = json.loads(mf.read_text(encoding="utf-8")) if mf.is_file() else {}

    @property
    def id(self) -> str:
        return self.path.name

    def table_path(self, system: str, name: str) -> Path:
        return self.path / system / f"{name}.parquet"

    def duckdb(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A connection with one view per table: ``sf_<Object>``, ``ic_<name>`` and ``sy_<name>`` (syncaudit's own
        writes). A table an incremental pull left with a delta layer is read with it (snapshot_merge.table_sql):
        the base file alone is the table before that pull."""
        from syncaudit.snapshot_merge import table_sql

        con = con or duckdb.connect()
        for system, prefix in (("salesforce", "sf_"), ("intercom", "ic_"), ("syncaudit", "sy_")):
            for p in sorted((self.path / system).glob("*.parquet")):
                con.execute(f"CREATE OR REPLACE VIEW {q(prefix + p.stem)} AS {table_sql(p)}")
        return con
