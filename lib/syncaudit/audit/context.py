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

from syncaudit.audit.match_fields import (
    column_sql,
    columns,
    ic_source_sql,
    name_sql,
    pair_fields,
    phone_key_sql,
    sf_source_sql,
    split_name_sql,
)
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


@dataclass
class AuditContext:
    con: duckdb.DuckDBPyConnection
    cfg: Config
    md: Metadata
    snapshot_id: str
    metrics: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # kind -> trained matching Model (audit.models)

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
    """The many-to-many table ``sa_nicknames(nick, canonical)`` of given names (shipped as data).

    A name belongs to its own group and to every group that lists it as a diminutive, so "chris" is in the
    groups christopher, christine and christian; two names are nickname-related when their groups meet.
    """
    text = resources.files("syncaudit.audit").joinpath("nicknames.txt").read_text(encoding="utf-8")
    rows = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        canonical, _, nicks = line.partition(":")
        for n in [canonical, *nicks.split(",")]:
            if n.strip():
                rows.add((n.strip().lower(), canonical.strip().lower()))
    con.execute("CREATE OR REPLACE TABLE sa_nicknames(nick VARCHAR, canonical VARCHAR)")
    con.executemany("INSERT INTO sa_nicknames VALUES (?, ?)", sorted(rows))
    con.execute(
        """CREATE OR REPLACE TABLE sa_nickgroups AS
        SELECT nick, list(canonical ORDER BY canonical) AS groups, min(canonical) AS key
        FROM sa_nicknames GROUP BY nick"""
    )


def _match_cols_sf(ctx: AuditContext, obj: str, view: str) -> str:
    """The ``mf_<name>`` comparison columns of one Salesforce people object."""
    cols = ctx.columns(view)
    fields = {f.name: f for f in pair_fields(ctx.mapping, "people").get(obj, [])}
    out = []
    for c in columns(ctx.mapping, "people"):
        f = fields.get(c.name)
        raw = sf_source_sql(view, cols, f.salesforce if f else None, obj)
        split = f is not None and f.salesforce == "Name" and c.compare in ("first_name", "last_name")
        # The same normalized value as an earlier column of the row (DuckDB's lateral alias): computed once.
        same = _SAME_AS.get((f.salesforce if f else None, c.compare))
        expr = same or (split_name_sql(c.compare, raw) if split else column_sql(c.compare, raw))
        out.append(f"{expr} AS {q('mf_' + c.name)}")
    return ", ".join(out)


# (Salesforce source, comparison) -> the people column that already holds its normalized value.
_SAME_AS = {
    ("FirstName", "first_name"): "first_raw",
    ("LastName", "last_name"): "last_raw",
    ("Company", "company_name"): "company_n",
}


def _match_cols_ic(ctx: AuditContext, view: str, kind: str) -> str:
    """The ``mf_<name>`` comparison columns of the Intercom side (the first pair naming a field wins)."""
    cols = ctx.columns(view)
    refs: dict[str, str] = {}
    for fields in pair_fields(ctx.mapping, kind).values():
        for f in fields:
            if f.intercom is not None:
                refs.setdefault(f.name, f.intercom)
    out = []
    for c in columns(ctx.mapping, kind):
        ref = refs.get(c.name)
        raw = ic_source_sql(view, cols, ref, ctx.has("ic_companies"))
        split = ref == "name" and c.compare in ("first_name", "last_name")
        if split and kind == "people":  # the person's name_n (normalized once, an earlier column of the row)
            expr = (
                "nullif(split_part(name_n, ' ', 1), '')"
                if c.compare == "first_name"
                else "CASE WHEN name_n LIKE '% %' THEN regexp_extract(name_n, '([^ ]+)$', 1) END"
            )
        else:
            expr = split_name_sql(c.compare, raw) if split else column_sql(c.compare, raw)
        out.append(f"{expr} AS {q('mf_' + c.name)}")
    return ", ".join(out)


def _match_cols_sf_company(ctx: AuditContext, view: str) -> str:
    cols = ctx.columns(view)
    fields = {f.name: f for f in pair_fields(ctx.mapping, "company").get("Account", [])}
    out = []
    for c in columns(ctx.mapping, "company"):
        f = fields.get(c.name)
        out.append(
            f"{column_sql(c.compare, sf_source_sql(view, cols, f.salesforce if f else None, 'Account'))} AS mf_{c.name}"
        )
    return ", ".join(out)


def _match_nulls(ctx: AuditContext, kind: str) -> str:
    return "".join(f", NULL::VARCHAR AS {q('mf_' + c.name)}" for c in columns(ctx.mapping, kind))


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
            if "IsPersonAccount" in ctx.columns(view):
                # A person account's Contact belongs to an Account that is the person: no employer to compare.
                company = f"CASE WHEN coalesce(CAST(IsPersonAccount AS BOOLEAN), false) THEN NULL ELSE {company} END"
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
                CAST({_first_col(ctx, view, ["LastActivityDate", "LastModifiedDate"], "TIMESTAMPTZ")} AS TIMESTAMPTZ) AS activity_at,
                {_match_cols_sf(ctx, obj, view)}
            FROM {q(view)}"""
        )
    if not parts:
        parts.append(
            "SELECT NULL::VARCHAR sf_id, NULL::VARCHAR sf_object, NULL::VARCHAR id_key, NULL::VARCHAR email_n, "
            "NULL::VARCHAR name_n, NULL::VARCHAR first_raw, NULL::VARCHAR last_raw, NULL::VARCHAR company_n, "
            "NULL::VARCHAR phone_k, false is_converted, NULL::VARCHAR converted_contact_id, false is_deleted, "
            "NULL::VARCHAR master_id, NULL::TIMESTAMPTZ updated_at, NULL::TIMESTAMPTZ created_at, "
            f"NULL::TIMESTAMPTZ activity_at{_match_nulls(ctx, 'people')} WHERE false"
        )
    con.execute("CREATE OR REPLACE TABLE sa_sf_people_raw AS " + " UNION ALL BY NAME ".join(parts))
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
                              {ctx.col(v, "updated_at", cast="TIMESTAMPTZ")}) AS TIMESTAMPTZ) AS activity_at,
                {_match_cols_ic(ctx, v, "people")}
            FROM ic_contacts"""
        )
    else:
        con.execute(
            "CREATE OR REPLACE TABLE sa_ic_people_raw AS SELECT NULL::VARCHAR ic_id, NULL::VARCHAR role, "
            "NULL::VARCHAR id_key, NULL::VARCHAR email_n, NULL::VARCHAR name_n, NULL::VARCHAR first_raw, "
            "NULL::VARCHAR last_raw, NULL::VARCHAR company_n, NULL::VARCHAR phone_k, false archived, "
            "NULL::TIMESTAMPTZ updated_at, NULL::TIMESTAMPTZ created_at, NULL::TIMESTAMPTZ activity_at"
            f"{_match_nulls(ctx, 'people')} WHERE false"
        )
    _finish_people(con, "sa_ic_people_raw", "sa_ic_people", "ic_id")


def _finish_people(con: duckdb.DuckDBPyConnection, src: str, dst: str, _id: str) -> None:
    # First/last name from the split fields when present, else from the full name's first and last tokens.
    # mf_first_name_groups: the nickname groups of the first name (many-to-many), for the nickname level.
    first = "coalesce(first_raw, nullif(split_part(name_n, ' ', 1), ''))"
    cols = [r[0] for r in con.execute(f"DESCRIBE {src}").fetchall()]
    groups = (
        ", CASE WHEN r.mf_first_name IS NOT NULL THEN coalesce(ng.groups, [r.mf_first_name]) END AS mf_first_name_groups"
        ", coalesce(ng.key, r.mf_first_name) AS mf_first_name_key"
        if "mf_first_name" in cols
        else ""
    )
    join = "LEFT JOIN sa_nickgroups ng ON ng.nick = r.mf_first_name" if "mf_first_name" in cols else ""
    con.execute(
        f"""CREATE OR REPLACE TABLE {dst} AS
        SELECT r.*,
            {first} AS first_n,
            coalesce(last_raw, CASE WHEN name_n LIKE '% %' THEN regexp_extract(name_n, '([^ ]+)$', 1) END) AS last_n,
            nullif(split_part(email_n, '@', 1), '') AS email_local,
            nullif(split_part(email_n, '@', 2), '') AS email_domain
            {groups}
        FROM {src} r {join}"""
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
                CAST({_first_col(ctx, v, ["LastActivityDate", "LastModifiedDate"], "TIMESTAMPTZ")} AS TIMESTAMPTZ) AS activity_at,
                {ctx.col(v, "ParentId")} AS parent_id,
                {_match_cols_sf_company(ctx, v)}
            FROM sf_Account{person_accounts_out}"""
        )
    else:
        con.execute(
            "CREATE OR REPLACE TABLE sa_sf_accounts AS SELECT NULL::VARCHAR sf_id, NULL::VARCHAR id_key, "
            "NULL::VARCHAR name_n, NULL::VARCHAR domain, NULL::VARCHAR phone_k, false is_deleted, NULL::VARCHAR master_id, "
            "NULL::TIMESTAMPTZ updated_at, NULL::TIMESTAMPTZ created_at, NULL::TIMESTAMPTZ activity_at, "
            f"NULL::VARCHAR parent_id{_match_nulls(ctx, 'company')} WHERE false"
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
                CAST({ctx.col(v, "updated_at", cast="TIMESTAMPTZ")} AS TIMESTAMPTZ) AS activity_at,
                NULL::VARCHAR AS parent_id, {_match_cols_ic(ctx, v, "company")}
            FROM ic_companies"""
        )
    else:
        con.execute(
            "CREATE OR REPLACE TABLE sa_ic_companies AS SELECT NULL::VARCHAR ic_id, NULL::VARCHAR id_key, "
            "NULL::VARCHAR name_n, NULL::VARCHAR domain, NULL::VARCHAR phone_k, false archived, "
            "NULL::TIMESTAMPTZ updated_at, NULL::TIMESTAMPTZ created_at, NULL::TIMESTAMPTZ activity_at, "
            f"NULL::VARCHAR parent_id{_match_nulls(ctx, 'company')} WHERE false"
        )


def prepare(ctx: AuditContext) -> None:
    """Register functions and build the shared normalized tables."""
    register_functions(ctx.con, ctx.mapping)
    load_nicknames(ctx.con)
    build_people(ctx)
    build_companies(ctx)
