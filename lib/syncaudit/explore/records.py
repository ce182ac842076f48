"""A person or a company in both systems: the records side by side, their links, findings and history.

Records are found by id, email (people), name or domain (companies); the counterpart in the other system is
found by the configured identity key (what the sync joins on) and, for people, the fallback email. Values are
laid out by mapping field with the same code the review uses, findings come from the audit's findings file, and
history from the earlier snapshots and the apply journal: nothing here recomputes an analysis.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from syncaudit.changes.review_files import journal_file
from syncaudit.changes.review_records import fetch_records, side_by_side
from syncaudit.errors import SyncAuditError
from syncaudit.explore.html import STYLE, esc, table, text_table

HISTORY_SNAPSHOTS = 12


@dataclass
class RecordCard:
    """What a notebook shows for ``snapshot.person(...)`` / ``snapshot.company(...)``."""

    title: str
    snapshot_id: str
    record_ids: list[str]
    rows: list[tuple[str, list[Any]]]
    links: list[dict[str, Any]]
    findings: Any  # pandas DataFrame
    history: list[dict[str, Any]] = field(default_factory=list)
    audited: bool = True

    def _finding_rows(self) -> list[list[Any]]:
        cols = ["kind", "severity", "field", "detail", "id"]
        return [[r.get(c) for c in cols] for r in self.findings.to_dict("records")]

    def _repr_html_(self) -> str:
        parts = [STYLE, '<div class="sa-card">', f"<h3>{esc(self.title)}</h3>"]
        parts.append(f'<div class="sa-muted">snapshot {esc(self.snapshot_id)}</div>')
        parts.append("<h4>Records side by side</h4>")
        parts.append(table(["field", *self.record_ids], [[n, *v] for n, v in self.rows], mark_diff=True))
        parts.append("<h4>Links</h4>")
        parts.append(
            table(["Salesforce", "Intercom", "how"], [[x["salesforce"], x["intercom"], x["how"]] for x in self.links])
        )
        parts.append(f"<h4>Findings ({len(self.findings)})</h4>")
        if not self.audited:
            parts.append('<div class="sa-muted">this snapshot has no findings yet: run `syncaudit findings`</div>')
        parts.append(table(["kind", "severity", "field", "detail", "id"], self._finding_rows()))
        parts.append("<h4>History</h4>")
        parts.append(table(["when", "record", "event"], [[h["when"], h["record"], h["event"]] for h in self.history]))
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:
        out = [f"{self.title} (snapshot {self.snapshot_id})", ""]
        out.append(text_table(["field", *self.record_ids], [[n, *v] for n, v in self.rows]))
        out.append("\nlinks:")
        out += [f"  {x['salesforce']} <-> {x['intercom']} ({x['how']})" for x in self.links] or ["  none"]
        out.append(f"\nfindings ({len(self.findings)}):")
        out += [f"  {r[0]} {r[1]} {r[2] or ''} {r[3]}" for r in self._finding_rows()] or ["  none"]
        out.append("\nhistory:")
        out += [f"  {h['when']} {h['record']} {h['event']}" for h in self.history] or ["  none"]
        return "\n".join(out)


def _views(con: Any) -> set[str]:
    return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def _ids(con: Any, sql: str, params: list[Any]) -> list[str]:
    return [str(r[0]) for r in con.execute(sql, params).fetchall()]


def find_person(view: Any, query: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Record ids (Salesforce first) of the person an id or email names, with their links."""
    con, cfg, q = view.con, view.cfg, str(query).strip()
    views = _views(con)
    ident = cfg.mapping.identity.people
    sf: list[str] = []
    for obj in ("Contact", "Lead"):
        if f"sf_{obj}" in views:
            sf += _ids(con, f'SELECT "Id" FROM "sf_{obj}" WHERE "Id" = ? OR lower("Email") = lower(?)', [q, q])
    ic = []
    if "ic_contacts" in views:
        ic = _ids(
            con,
            "SELECT id FROM ic_contacts WHERE id = ? OR CAST(external_id AS VARCHAR) = ? OR lower(email) = lower(?)",
            [q, q, q],
        )
    links = _people_links(con, views, ident, sf, ic, "email" in ident.fallback)
    sf = sorted({*sf, *(x["salesforce"] for x in links)})
    ic = sorted({*ic, *(x["intercom"] for x in links)})
    links = _people_links(con, views, ident, sf, ic, "email" in ident.fallback)  # the counterparts' other links
    sf = sorted({*sf, *(x["salesforce"] for x in links)})
    ic = sorted({*ic, *(x["intercom"] for x in links)})
    return sf + ic, links


def _people_links(con: Any, views: set[str], ident: Any, sf: list[str], ic: list[str], by_email: bool) -> list[dict]:
    if "ic_contacts" not in views:
        return []
    out: dict[tuple[str, str], str] = {}
    for obj in ("Contact", "Lead"):
        t = f"sf_{obj}"
        if t not in views:
            continue
        rows = con.execute(
            f'SELECT s."Id", c.id FROM "{t}" s JOIN ic_contacts c ON CAST(s."{ident.salesforce_key}" AS VARCHAR) = '
            f"CAST(c.{ident.intercom_key} AS VARCHAR) "
            f'WHERE s."Id" IN (SELECT unnest(?)) OR c.id IN (SELECT unnest(?))',
            [sf, ic],
        ).fetchall()
        out.update({(str(a), str(b)): "identity key" for a, b in rows})
        if by_email:
            rows = con.execute(
                f'SELECT s."Id", c.id FROM "{t}" s JOIN ic_contacts c ON lower(s."Email") = lower(c.email) '
                f'WHERE s."Id" IN (SELECT unnest(?)) OR c.id IN (SELECT unnest(?))',
                [sf, ic],
            ).fetchall()
            for a, b in rows:
                out.setdefault((str(a), str(b)), "email (fallback)")
    return [{"salesforce": a, "intercom": b, "how": how} for (a, b), how in sorted(out.items())]


def find_company(view: Any, query: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Record ids of the company an id, name or web domain names, with their links."""
    con, cfg, q = view.con, view.cfg, str(query).strip()
    views = _views(con)
    ident = cfg.mapping.identity.companies
    domain = q.lower().removeprefix("https://").removeprefix("http://").removeprefix("www.").split("/")[0]
    sf = ic = []
    if "sf_Account" in views:
        sf = _ids(
            con,
            'SELECT "Id" FROM "sf_Account" WHERE "Id" = ? OR lower("Name") = lower(?) '
            "OR regexp_replace(lower(coalesce(\"Website\", '')), '^(https?://)?(www\\.)?([^/]*).*$', '\\3') = ?",
            [q, q, domain],
        )
    if "ic_companies" in views:
        ic = _ids(
            con,
            "SELECT id FROM ic_companies WHERE id = ? OR CAST(company_id AS VARCHAR) = ? OR lower(name) = lower(?) "
            "OR regexp_replace(lower(coalesce(website, '')), '^(https?://)?(www\\.)?([^/]*).*$', '\\3') = ?",
            [q, q, q, domain],
        )
    links: list[dict[str, Any]] = []
    for _ in range(2):  # two hops: a company's counterpart, and the other records sharing that key
        if "sf_Account" not in views or "ic_companies" not in views:
            break
        rows = con.execute(
            f'SELECT a."Id", c.id FROM "sf_Account" a JOIN ic_companies c ON CAST(a."{ident.salesforce_key}" AS '
            f"VARCHAR) = CAST(c.{ident.intercom_key} AS VARCHAR) "
            'WHERE a."Id" IN (SELECT unnest(?)) OR c.id IN (SELECT unnest(?)) ORDER BY 1, 2',
            [sf, ic],
        ).fetchall()
        links = [{"salesforce": str(a), "intercom": str(b), "how": "identity key"} for a, b in rows]
        sf = sorted({*sf, *(x["salesforce"] for x in links)})
        ic = sorted({*ic, *(x["intercom"] for x in links)})
    sf = sorted({*sf, *(x["salesforce"] for x in links)})
    ic = sorted({*ic, *(x["intercom"] for x in links)})
    return sf + ic, links


def record_card(view: Any, query: str, kind: str) -> RecordCard:
    ids, links = (find_person if kind == "person" else find_company)(view, query)
    if not ids:
        what = "an id or an email" if kind == "person" else "an id, a name or a web domain"
        raise SyncAuditError(
            f"no {kind} matches {query!r} in snapshot {view.id}",
            hint=f"give {what} of a record in the snapshot (see snapshot.sql(...) for what it holds)",
        )
    recs = fetch_records(view.snapshot, view.con, ids, "company" if kind == "company" else "contact")
    rows = side_by_side(view.cfg, SimpleNamespace(records=ids), recs)
    if view.has_findings:
        findings = view.findings(record=ids)
    else:  # not audited yet: the card says so instead of failing
        import pandas as pd

        findings = pd.DataFrame(columns=["kind", "severity", "field", "detail", "id"])
    title = f"{kind}: {query}"
    return RecordCard(title, view.id, ids, rows, links, findings, history(view, ids, rows), view.has_findings)


def history(view: Any, ids: list[str], rows: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """How the records looked in the earlier snapshots (what changed between them), and what apply did to them."""
    from syncaudit.snapshot import open_snapshot

    out: list[dict[str, Any]] = []
    current = {name: values for name, values in rows}
    earlier = [s for s in view.workspace.snapshots() if s < view.id][-HISTORY_SNAPSHOTS:]
    later_rows = current
    for sid in reversed(earlier):
        snap = open_snapshot(view.cfg, sid)
        con = snap.duckdb()
        try:
            recs = fetch_records(snap, con, ids)
            old = dict(side_by_side(view.cfg, SimpleNamespace(records=ids), recs))
        finally:
            con.close()
        for i, rid in enumerate(ids):
            changed = [
                n
                for n, values in later_rows.items()
                if n not in ("id", "modified") and n in old and str(old[n][i]) != str(values[i])
            ]
            if changed:
                out.append({"when": sid, "record": rid, "event": "changed after this snapshot: " + ", ".join(changed)})
        later_rows = old
    out += journal_events(view.cfg, ids)
    return sorted(out, key=lambda h: str(h["when"]), reverse=True)


def journal_events(cfg: Any, ids: list[str]) -> list[dict[str, Any]]:
    """What apply runs did to these records (read-only: a card never creates a journal)."""
    path = journal_file(cfg)
    if not path.is_file() or not ids:
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            "SELECT o.run_id, o.op, o.outcome, o.error_code, o.outcome_at, o.record_key, r.kind FROM ops o "
            f"JOIN runs r ON r.run_id = o.run_id WHERE o.record_key IN ({marks}) ORDER BY o.outcome_at",
            ids,
        ).fetchall()
    finally:
        db.close()
    from datetime import UTC, datetime

    out = []
    for run, op, outcome, code, at, rid, kind in rows:
        when = datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%SZ") if at else ""
        event = f"{kind} run {run}: {op} {outcome or 'in doubt'}" + (f" ({code})" if code else "")
        out.append({"when": when, "record": rid, "event": event})
    return out
