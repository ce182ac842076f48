"""Worklists: the CSV files a team works through, one row per thing to fix, with the context to fix it.

- ``worklists/<kind>.csv`` for every kind of the run (DuckDB COPY over findings.jsonl, no row in Python):
  finding id, severity, system, object, field, the records and links to them, the suggested fix.
- ``duplicates_worklist.csv``: one row per pair (each record of a cluster beside the suggested survivor)
  with masked names, account or company, owner, the evidence field by field (same / similar / differs /
  missing for email, name, phone, account, owner) and a confidence computed from that evidence.

What the audit may add (docs/reports.md): a duplicate finding's ``extra.evidence`` as
``[{"pair": [a, b], "fields": {"email": "same", ...}, "weight": w}]`` and its own ``confidence``; the
worklist shows the audit's confidence beside the one computed here when present.

Personal data: the files are written unmasked into the run's work folder (for analysts) under column names
the masking recognises (``*_name``, ``*_email``, ``*_phone``, ``*_owner``); the report folder's copies are
masked by publish.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from syncaudit.config import Config
from syncaudit.report.findings import _quote, _source
from syncaudit.report.masking import PersonalKind
from syncaudit.report.names import intercom_app_base

LINKS_FILE = "links.json"


def link_bases(cfg: Config, snapshot: Any = None) -> dict[str, str | None]:
    """The bases of record URLs: the Salesforce instance URL and the Intercom app URL (None when unknown)."""
    sf = cfg.salesforce.instance_url if cfg.salesforce else None
    ic_api = cfg.intercom.api_base_url() if cfg.intercom else None
    if cfg.sandbox is not None:
        try:
            from syncaudit.connectors.build import sandbox_facts

            facts = sandbox_facts(cfg)
            sf = facts["salesforce"].get("instance_url") or sf
            ic_api = facts["intercom"].get("base_url") or ic_api
        except Exception:  # noqa: BLE001 - no running sandbox: ids stay plain text
            pass
    app_id = (cfg.fixes.log_conversations.options or {}).get("app_id") or _learn_app_id(cfg, snapshot)
    return {"salesforce": sf, "intercom": intercom_app_base(ic_api, app_id)}


def _learn_app_id(cfg: Config, snapshot: Any) -> str | None:
    """The Intercom app id from the conversation URLs logged on Salesforce Tasks (the most frequent one)."""
    if snapshot is None:
        return None
    column = cfg.mapping.conversations.conversation_id_field
    obj = cfg.mapping.conversations.log_as
    try:
        con = snapshot.duckdb()
        row = con.execute(
            f"select regexp_extract(\"{column}\", '/a/inbox/([^/]+)/inbox/conversation/', 1) as app "
            f'from "sf_{obj}" where "{column}" like \'%/inbox/conversation/%\' group by 1 order by count(*) desc limit 1'
        ).fetchone()
        con.close()
    except Exception:  # noqa: BLE001 - no such table or column: no app id
        return None
    return row[0] if row and row[0] else None


def write_links(cfg: Config, snapshot: Any, work: Path) -> dict[str, str | None]:
    links = link_bases(cfg, snapshot)
    (work / LINKS_FILE).write_text(json.dumps(links), encoding="utf-8")
    return links


def read_links(work: Path) -> dict[str, str | None]:
    try:
        data = json.loads((work / LINKS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _sql_text(v: str | None) -> str:
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


def record_url_sql(column: str, obj: str, links: Mapping[str, Any]) -> str:
    """A DuckDB expression: the URL of record id ``column`` (see names.record_url), NULL when unknown."""
    sf, ic = links.get("salesforce"), links.get("intercom")
    prefix = (
        f"case substr({column}, 1, 3) when '001' then 'Account' when '003' then 'Contact' when '00Q' then 'Lead' "
        f"when '005' then 'User' when '00T' then 'Task' when '500' then 'Case' else NULL end"
    )
    sf_url = (
        f"{_sql_text(sf.rstrip('/'))} || '/lightning/r/' || {prefix} || '/' || {column} || '/view'" if sf else "NULL"
    )
    ic_kind = (
        f"case when lower(coalesce({obj}, '')) in ('account', 'company', 'companies') then '/companies/' || {column} "
        f"else '/users/' || {column} || '/all' end"
    )
    ic_url = f"{_sql_text(ic)} || {ic_kind}" if ic else "NULL"
    return (
        f"case when length({column}) in (15, 18) and {prefix} is not null then {sf_url} "
        f"when regexp_matches({column}, '^[0-9a-f]{{24}}$') then {ic_url} else NULL end"
    )


def write_kind_worklists(
    findings: Path, folder: Path, personal: Mapping[str, PersonalKind], links: Mapping[str, Any]
) -> list[Path]:
    """One CSV per finding kind under ``folder``, worst severity first (written by DuckDB)."""
    if not findings.is_file() or findings.stat().st_size == 0:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    names = [k for k, v in personal.items() if v == "name"]
    hide = ", ".join(_sql_text(n) for n in names) or "''"
    url = record_url_sql("r", "object", links)
    con = duckdb.connect()
    written = []
    try:
        con.execute(f"create temp view f as select * from {_source(findings)}")
        kinds = [r[0] for r in con.execute("select distinct kind from f where kind is not null order by 1").fetchall()]
        for kind in kinds:
            target = folder / f"{kind}.csv"
            con.execute(
                f"""copy (select id as finding_id, severity, system, object, field,
                        coalesce(record_count, len(records)) as records_affected,
                        array_to_string(records[1:20], ' ') as records,
                        array_to_string(list_transform(records[1:3], lambda r: {url}), ' ') as record_links,
                        case when field in ({hide}) then '(values hidden: personal data)' else detail end as detail,
                        cast(suggested_fix as varchar) as suggested_fix
                    from f where kind = {_sql_text(kind)}
                    order by case lower(severity) when 'critical' then 0 when 'high' then 1 when 'medium' then 2
                             else 3 end, records_affected desc, id)
                    to '{_quote(target)}' (header, delimiter ',')"""
            )
            written.append(target)
    finally:
        con.close()
    return written


_PEOPLE_SQL = """
select c.Id as rid, 'Contact' as obj, c.Name as name, c.Email as email, c.Phone as phone,
       a.Name as account, u.Name as owner
from "sf_Contact" c left join "sf_Account" a on a.Id = c.AccountId left join "sf_User" u on u.Id = c.OwnerId
union all
select l.Id, 'Lead', l.Name, l.Email, l.Phone, l.Company, u.Name
from "sf_Lead" l left join "sf_User" u on u.Id = l.OwnerId
union all
select ct.id, 'contact', ct.name, ct.email, ct.phone, co.name, ad.name
from "ic_contacts" ct left join "ic_companies" co on co.id = ct.company_ids[1]
     left join "ic_admins" ad on ad.id = ct.owner_id
union all
select ac.Id, 'Account', ac.Name, NULL, NULL, ac.Website, u.Name
from "sf_Account" ac left join "sf_User" u on u.Id = ac.OwnerId
union all
select co.id, 'company', co.name, NULL, NULL, co.website, NULL from "ic_companies" co
"""


def _evidence(field_a: str, field_b: str, *, fuzzy: bool = False) -> str:
    same = f"lower(trim({field_a})) = lower(trim({field_b}))"
    similar = f"jaro_winkler_similarity(lower({field_a}), lower({field_b})) >= 0.88" if fuzzy else "false"
    return (
        f"case when {field_a} is null or {field_b} is null or trim({field_a}) = '' or trim({field_b}) = '' "
        f"then 'missing' when {same} then 'same' when {similar} then 'similar' else 'differs' end"
    )


def _digits(col: str) -> str:
    return f"regexp_replace({col}, '[^0-9]', '', 'g')"


# Confidence from the evidence: what each field contributes when it is the same (similar: half).
EVIDENCE_WEIGHTS = {"email": 0.4, "name": 0.25, "phone": 0.15, "account": 0.1, "owner": 0.1}


def duplicates_worklist(snapshot: Any, findings: Path, links: Mapping[str, Any], limit: int = 50_000) -> pd.DataFrame:
    """One row per duplicate pair (survivor, other) with context and field-by-field evidence."""
    cols = ["cluster", "object", "survivor", "survivor_name", "record", "record_name", "account", "survivor_owner",
            "record_owner", "evidence_email", "evidence_name", "evidence_phone", "evidence_account",
            "evidence_owner", "confidence",
            "audit_confidence", "severity", "survivor_link", "record_link"]  # fmt: skip
    if not findings.is_file() or findings.stat().st_size == 0:
        return pd.DataFrame(columns=cols)
    con = snapshot.duckdb()
    try:
        needed = {"sf_Contact", "sf_Lead", "sf_Account", "sf_User", "ic_contacts", "ic_companies", "ic_admins"}
        have = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        if not needed <= have:
            return pd.DataFrame(columns=cols)
        con.execute(f"create temp table people as {_PEOPLE_SQL}")
        score = " + ".join(
            f"{w} * case {_evidence(f'a.{c}', f'b.{c}', fuzzy=c == 'name')} when 'same' then 1 "
            f"when 'similar' then 0.5 else 0 end"
            for c, w in EVIDENCE_WEIGHTS.items()
        )
        df = con.execute(
            f"""with d as (select id, object, severity, confidence, records,
                                  coalesce(suggested_survivor, records[1]) as survivor
                           from {_source(findings)} where kind = 'duplicate'),
                     pairs as (select id, object, severity, confidence, survivor, unnest(records) as rec from d)
                select p.id as cluster, p.object, p.survivor, a.name as survivor_name, p.rec as record,
                       b.name as record_name, coalesce(b.account, a.account) as account,
                       a.owner as survivor_owner, b.owner as record_owner,
                       {_evidence("a.email", "b.email")} as evidence_email,
                       {_evidence("a.name", "b.name", fuzzy=True)} as evidence_name,
                       {_evidence(_digits("a.phone"), _digits("b.phone"))} as evidence_phone,
                       {_evidence("a.account", "b.account", fuzzy=True)} as evidence_account,
                       {_evidence("a.owner", "b.owner")} as evidence_owner,
                       round({score}, 2) as confidence, p.confidence as audit_confidence, p.severity,
                       {record_url_sql("p.survivor", "p.object", links)} as survivor_link,
                       {record_url_sql("p.rec", "p.object", links)} as record_link
                from pairs p left join people a on a.rid = p.survivor left join people b on b.rid = p.rec
                where p.rec <> p.survivor
                order by confidence desc, cluster, record limit {int(limit)}"""
        ).df()
    finally:
        con.close()
    return df[cols]


def write_duplicates_worklist(snapshot: Any, findings: Path, out_dir: Path, links: Mapping[str, Any]) -> pd.DataFrame:
    """duplicates_worklist.csv in ``out_dir`` (spreadsheet-safe), returned as a frame."""
    from syncaudit.report.safe_csv import write_safe_csv

    df = duplicates_worklist(snapshot, findings, links)
    write_safe_csv(df, out_dir / "duplicates_worklist.csv")
    return df
