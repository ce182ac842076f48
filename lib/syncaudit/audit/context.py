"""The audit's working set: one DuckDB connection, the mapping, the metadata, and the
normalized people/company tables every analysis shares.

Every object and field name comes from the config (``Config.mapping``); a column
absent from a snapshot becomes NULL, so empty systems and partial pulls still run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import duckdb

from syncaudit.config import Config
from syncaudit.loadfolder import lit, q
from syncaudit.mapping import (
    Metadata,
    domain_sql,
    email_sql,
    has_companies,
    normalizer_sql,
    people_objects,
    register_functions,
)

NAME_SQL = (
    "nullif(trim(regexp_replace(regexp_replace(lower(strip_accents(nfc_normalize(coalesce({x}, '')))), "
    "'[^\\pL\\s''-]', ' ', 'g'), '\\s+', ' ', 'g')), '')"
)


def name_sql(x: str) -> str:
    """A person or company name for matching: lower case, no accents, punctuation and digits removed."""
    return NAME_SQL.format(x=x)


def phone_key_sql(x: str) -> str:
    """The last 9 digits of a phone number: equal for most formattings of one number, without parsing."""
    return f"nullif(right(regexp_replace(coalesce({x}, ''), '[^0-9]', '', 'g'), 9), '')"


@dataclass
class AuditContext:
    con: duckdb.DuckDBPyConnection
    cfg: Config
    md: Metadata
    snapshot_id: str
    metrics: dict = field(default_factory=dict)

    @property
    def mapping(self):  # noqa: ANN201 - the config's Mapping
        return self.cfg.mapping

    def columns(self, view: str) -> list[str]:
        try:
            return [r[0] for r in self.con.execute(f"DESCRIBE {q(view)}").fetchall()]
        except duckdb.CatalogException:
            return []

    def has(self, view: str) -> bool:
        return bool(self.columns(view))

    def col(self, view: str, name: str, alias: str | None = None, cast: str = "VARCHAR") -> str:
        """``view.name`` if the column exists, else a typed NULL."""
        expr = q(name) if name in self.columns(view) else f"CAST(NULL AS {cast})"
        return f"{expr}" if alias is None else f"{expr} AS {q(alias)}"

    def count(self, table: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {q(table)}").fetchall()[0][0])


def _first_col(ctx: AuditContext, view: str, names: list[str], cast: str = "VARCHAR") -> str:
    cols = ctx.columns(view)
    have = [q(n) for n in names if n in cols]
    if not have:
        return f"CAST(NULL AS {cast})"
    return have[0] if len(have) == 1 else f"coalesce({', '.join(have)})"


def load_nicknames(con: duckdb.DuckDBPyConnection) -> None:
    """A table nickname -> canonical first name (common English diminutives, shipped as data)."""
    text = resources.files("syncaudit.audit").joinpath("nicknames.txt").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        canonical, _, nicks = line.partition(":")
        for n in [canonical, *nicks.split(",")]:
            if n.strip():
                rows.append((n.strip().lower(), canonical.strip().lower()))
    con.execute("CREATE OR REPLACE TABLE sa_nicknames(nick VARCHAR, canonical VARCHAR)")
    con.executemany("INSERT INTO sa_nicknames VALUES (?, ?)", rows)
    # A diminutive of several names (e.g. "al") keeps the first listed: deterministic, and only a comparison level.
    con.execute(
        "CREATE OR REPLACE TABLE sa_nicknames AS SELECT nick, min(canonical) AS canonical FROM sa_nicknames GROUP BY nick"
    )


def identity_key_sql(expr: str, normalizers: list[Any], side: str) -> str:
    """An identity key ready to compare: the mapping's identity normalizers, then trimmed ('' is no key)."""
    value = normalizer_sql(expr, normalizers, side) if normalizers else f"CAST({expr} AS VARCHAR)"
    return f"nullif(trim({value}), '')"


def build_people(ctx: AuditContext) -> None:
    """``sa_sf_people`` (Contacts and Leads of the mapping) and ``sa_ic_people`` (Intercom contacts)."""
    m = ctx.mapping
    con = ctx.con
    ident = m.identity.people
    parts = []
    for obj, _role in people_objects(m):
        view = f"sf_{obj}"
        if not ctx.has(view):
            continue
        key = ident.key_for(obj)  # Contact and Lead may use different fields, or none
        key_sql = identity_key_sql(
            ctx.col(view, key) if key else "CAST(NULL AS VARCHAR)", ident.normalize, "salesforce"
        )
        first = _first_col(ctx, view, ["FirstName"])
        last = _first_col(ctx, view, ["LastName"])
        name = _first_col(ctx, view, ["Name"])
        if obj == "Lead":
            company = _first_col(ctx, view, ["Company"])
        elif "AccountId" in ctx.columns(view) and ctx.has("sf_Account"):
            company = f"(SELECT a.Name FROM sf_Account a WHERE a.Id = {q(view)}.AccountId)"
        else:
            company = "CAST(NULL AS VARCHAR)"
        parts.append(
            f"""SELECT Id AS sf_id, {lit(obj)} AS sf_object,
                {key_sql} AS id_key,
                {email_sql(_first_col(ctx, view, ["Email"]))} AS email_n,
                {name_sql(f"coalesce({name}, concat_ws(' ', {first}, {last}))")} AS name_n,
                {name_sql(first)} AS first_raw, {name_sql(last)} AS last_raw,
                {name_sql(company)} AS company_n,
                {phone_key_sql(_first_col(ctx, view, ["Phone", "MobilePhone"]))} AS phone_k,
                coalesce({_first_col(ctx, view, ["IsConverted"], "BOOLEAN")}, false) AS is_converted,
                {_first_col(ctx, view, ["ConvertedContactId"])} AS converted_contact_id,
                coalesce({_first_col(ctx, view, ["IsDeleted"], "BOOLEAN")}, false) AS is_deleted,
                {_first_col(ctx, view, ["MasterRecordId"])} AS master_id,
                CAST({_first_col(ctx, view, ["LastModifiedDate", "SystemModstamp"], "TIMESTAMPTZ")} AS TIMESTAMPTZ) AS updated_at,
                CAST({_first_col(ctx, view, ["CreatedDate"], "TIMESTAMPTZ")} AS TIMESTAMPTZ) AS created_at,
                CAST({_first_col(ctx, view, ["LastActivityDate", "LastModifiedDate"], "TIMESTAMPTZ")} AS TIMESTAMPTZ) AS activity_at
            FROM {q(view)}"""
        )
    if not parts:
        parts.append(
            "SELECT NULL::VARCHAR sf_id, NULL::VARCHAR sf_object, NULL::VARCHAR id_key, NULL::VARCHAR email_n, "
            "NULL::VARCHAR name_n, NULL::VARCHAR first_raw, NULL::VARCHAR last_raw, NULL::VARCHAR company_n, "
            "NULL::VARCHAR phone_k, false is_converted, NULL::VARCHAR converted_contact_id, false is_deleted, "
            "NULL::VARCHAR master_id, NULL::TIMESTAMPTZ updated_at, NULL::TIMESTAMPTZ created_at, "
            "NULL::TIMESTAMPTZ activity_at WHERE false"
        )
    con.execute("CREATE OR REPLACE TABLE sa_sf_people_raw AS " + " UNION ALL ".join(parts))
    _finish_people(con, "sa_sf_people_raw", "sa_sf_people", "sf_id")

    v = "ic_contacts"
    ikey = m.identity.people.intercom_key
    if ctx.has(v):
        company = (
            "(SELECT c.name FROM ic_companies c WHERE c.id = ic_contacts.company_ids[1])"
            if ctx.has("ic_companies") and "company_ids" in ctx.columns(v)
            else "CAST(NULL AS VARCHAR)"
        )
        con.execute(
            f"""CREATE OR REPLACE TABLE sa_ic_people_raw AS SELECT id AS ic_id, {ctx.col(v, "role")} AS role,
                {identity_key_sql(ctx.col(v, ikey), m.identity.people.normalize, "intercom")} AS id_key,
                {email_sql(ctx.col(v, "email"))} AS email_n,
                {name_sql(ctx.col(v, "name"))} AS name_n,
                CAST(NULL AS VARCHAR) AS first_raw, CAST(NULL AS VARCHAR) AS last_raw,
                {name_sql(company)} AS company_n,
                {phone_key_sql(ctx.col(v, "phone"))} AS phone_k,
                coalesce({ctx.col(v, "archived", cast="BOOLEAN")}, false) AS archived,
                CAST({ctx.col(v, "updated_at", cast="TIMESTAMPTZ")} AS TIMESTAMPTZ) AS updated_at,
                CAST({ctx.col(v, "created_at", cast="TIMESTAMPTZ")} AS TIMESTAMPTZ) AS created_at,
                CAST(coalesce({ctx.col(v, "last_seen_at", cast="TIMESTAMPTZ")},
                              {ctx.col(v, "updated_at", cast="TIMESTAMPTZ")}) AS TIMESTAMPTZ) AS activity_at
            FROM ic_contacts"""
        )
    else:
        con.execute(
            "CREATE OR REPLACE TABLE sa_ic_people_raw AS SELECT NULL::VARCHAR ic_id, NULL::VARCHAR role, "
            "NULL::VARCHAR id_key, NULL::VARCHAR email_n, NULL::VARCHAR name_n, NULL::VARCHAR first_raw, "
            "NULL::VARCHAR last_raw, NULL::VARCHAR company_n, NULL::VARCHAR phone_k, false archived, "
            "NULL::TIMESTAMPTZ updated_at, NULL::TIMESTAMPTZ created_at, NULL::TIMESTAMPTZ activity_at WHERE false"
        )
    _finish_people(con, "sa_ic_people_raw", "sa_ic_people", "ic_id")


def _finish_people(con: duckdb.DuckDBPyConnection, src: str, dst: str, _id: str) -> None:
    # First/last name from the split fields when present, else from the full name's first and last tokens.
    con.execute(
        f"""CREATE OR REPLACE TABLE {dst} AS
        SELECT r.*,
            coalesce(first_raw, nullif(split_part(name_n, ' ', 1), '')) AS first_n,
            coalesce(last_raw, CASE WHEN name_n LIKE '% %' THEN regexp_extract(name_n, '([^ ]+)$', 1) END) AS last_n,
            coalesce(nk.canonical, coalesce(first_raw, nullif(split_part(name_n, ' ', 1), ''))) AS first_canon,
            nullif(split_part(email_n, '@', 1), '') AS email_local,
            nullif(split_part(email_n, '@', 2), '') AS email_domain
        FROM {src} r
        LEFT JOIN sa_nicknames nk ON nk.nick = coalesce(r.first_raw, nullif(split_part(r.name_n, ' ', 1), ''))"""
    )
    con.execute(f"DROP TABLE {src}")


def build_companies(ctx: AuditContext) -> None:
    """``sa_sf_accounts`` and ``sa_ic_companies``, keyed by the configured company identity."""
    m = ctx.mapping
    con = ctx.con
    if has_companies(m) and ctx.has("sf_Account"):
        v = "sf_Account"
        # A person account is a person (its PersonContact is read with the Contacts), never a company.
        person_accounts_out = (
            " WHERE NOT coalesce(IsPersonAccount, false)" if "IsPersonAccount" in ctx.columns(v) else ""
        )
        con.execute(
            f"""CREATE OR REPLACE TABLE sa_sf_accounts AS SELECT Id AS sf_id,
                {identity_key_sql(ctx.col(v, m.identity.companies.salesforce_key), m.identity.companies.normalize, "salesforce")} AS id_key,
                {name_sql(ctx.col(v, "Name"))} AS name_n,
                {domain_sql(ctx.col(v, "Website"))} AS domain,
                {phone_key_sql(ctx.col(v, "Phone"))} AS phone_k,
                coalesce({ctx.col(v, "IsDeleted", cast="BOOLEAN")}, false) AS is_deleted,
                {ctx.col(v, "MasterRecordId")} AS master_id,
                CAST({_first_col(ctx, v, ["LastModifiedDate", "SystemModstamp"], "TIMESTAMPTZ")} AS TIMESTAMPTZ) AS updated_at,
                CAST({ctx.col(v, "CreatedDate", cast="TIMESTAMPTZ")} AS TIMESTAMPTZ) AS created_at,
                CAST({_first_col(ctx, v, ["LastActivityDate", "LastModifiedDate"], "TIMESTAMPTZ")} AS TIMESTAMPTZ) AS activity_at
            FROM sf_Account{person_accounts_out}"""
        )
    else:
        con.execute(
            "CREATE OR REPLACE TABLE sa_sf_accounts AS SELECT NULL::VARCHAR sf_id, NULL::VARCHAR id_key, "
            "NULL::VARCHAR name_n, NULL::VARCHAR domain, NULL::VARCHAR phone_k, false is_deleted, NULL::VARCHAR master_id, "
            "NULL::TIMESTAMPTZ updated_at, NULL::TIMESTAMPTZ created_at, NULL::TIMESTAMPTZ activity_at WHERE false"
        )
    v = "ic_companies"
    if has_companies(m) and ctx.has(v):
        con.execute(
            f"""CREATE OR REPLACE TABLE sa_ic_companies AS SELECT id AS ic_id,
                {identity_key_sql(ctx.col(v, m.identity.companies.intercom_key), m.identity.companies.normalize, "intercom")} AS id_key,
                {name_sql(ctx.col(v, "name"))} AS name_n,
                {domain_sql(ctx.col(v, "website"))} AS domain,
                CAST(NULL AS VARCHAR) AS phone_k,
                false AS archived,
                CAST({ctx.col(v, "updated_at", cast="TIMESTAMPTZ")} AS TIMESTAMPTZ) AS updated_at,
                CAST({ctx.col(v, "created_at", cast="TIMESTAMPTZ")} AS TIMESTAMPTZ) AS created_at,
                CAST({ctx.col(v, "updated_at", cast="TIMESTAMPTZ")} AS TIMESTAMPTZ) AS activity_at
            FROM ic_companies"""
        )
    else:
        con.execute(
            "CREATE OR REPLACE TABLE sa_ic_companies AS SELECT NULL::VARCHAR ic_id, NULL::VARCHAR id_key, "
            "NULL::VARCHAR name_n, NULL::VARCHAR domain, NULL::VARCHAR phone_k, false archived, "
            "NULL::TIMESTAMPTZ updated_at, NULL::TIMESTAMPTZ created_at, NULL::TIMESTAMPTZ activity_at WHERE false"
        )


def prepare(ctx: AuditContext) -> None:
    """Register functions and build the shared normalized tables."""
    register_functions(ctx.con, ctx.mapping)
    load_nicknames(ctx.con)
    build_people(ctx)
    build_companies(ctx)
