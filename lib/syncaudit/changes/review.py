"""Review: a person decides the plan's review items (plan -> **review** -> apply).

A review item is a ``review`` operation of a stored plan joined with its finding: the records, the kind,
severity and confidence, the field-by-field evidence (``[{field, left, right, level, weight}]``: from the
finding where the audit recorded it, else compared here from the snapshot's records, without weights), the
suggested survivor and the merge proposal. Items live in DuckDB, so 10,000 of them filter and page at once.

    review = Review.open(cfg)                  # the newest plan of the config's data dir (or Review(cfg, plan))
    review.page(0, kind="duplicate")          # ReviewItem list, 25 a page
    review.decide(item_id, "approve", survivor=record_id)   # or "reject"; saved in the plan's decisions.jsonl
    plan = review.build_plan()                 # a new plan with the decisions in it (new hash); apply takes it

A rejection made in an earlier plan carries over (by finding id) while the evidence digest is unchanged.
The widgets for a notebook are ``syncaudit.explore.ReviewWidget(review)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from syncaudit.changes.decisions import (
    DECISIONS,
    Decision,
    DecisionLog,
    earlier_decisions,
    evidence_digest,
    now_iso,
    reviewer,
)
from syncaudit.changes.model import Plan, load_plan
from syncaudit.changes.review_files import findings_file, plans_dir
from syncaudit.errors import SyncAuditError

PAGE_SIZE = 25


def lit(value: str) -> str:
    """A SQL string literal (here rather than from loadfolder, whose imports would slow the review's first page)."""
    return "'" + value.replace("'", "''") + "'"


SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
_PLAN_COLUMNS = {
    "seq": "BIGINT",
    "op": "VARCHAR",
    "finding_id": "VARCHAR",
    "idempotency_key": "VARCHAR",
    "policy": "VARCHAR",
    "system": "VARCHAR",
    "object": "VARCHAR",
    "key": "VARCHAR",
    "note": "VARCHAR",
    "after": "JSON",
    "before": "JSON",
}
_FINDING_COLUMNS = {
    "id": "VARCHAR",
    "kind": "VARCHAR",
    "severity": "VARCHAR",
    "confidence": "DOUBLE",
    "detail": "VARCHAR",
    "records": "VARCHAR[]",
    "suggested_survivor": "VARCHAR",
    "values": "JSON",
    "evidence": "JSON",
    "extra": "JSON",
}


@dataclass(frozen=True)
class ReviewItem:
    """One decision to make, with what the reviewer needs to make it."""

    id: str
    seq: int
    kind: str
    policy: str
    system: str
    object: str
    records: list[str]
    suggested_survivor: str | None
    severity: str
    confidence: float | None
    detail: str
    note: str
    evidence: list[dict[str, Any]]
    proposal: dict[str, Any]
    values: dict[str, Any]
    status: str = "pending"  # pending | approve | reject
    survivor: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    carried_from: str | None = None
    earlier_rejection_outdated: bool = False  # rejected in an earlier plan, but the evidence has changed since
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return evidence_digest(self)

    @property
    def weighted(self) -> bool:
        return any(e.get("weight") is not None for e in self.evidence)


def normalize_evidence(raw: Any) -> list[dict[str, Any]]:
    """Evidence as ``[{field, left, right, level, weight}]``, from a list of such rows (aliases accepted:
    comparison_level / label_for_charts, match_weight / log2_bayes_factor), the audit's match evidence
    (``{deterministic, match_probability, weakest_link, pairs: [{records, fields}]}``: the weakest link's
    fields) or a ``{field: row}`` mapping."""
    if raw is None:
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    if isinstance(raw, dict) and isinstance(raw.get("pairs"), list):
        # the audit's match evidence (docs/contracts.md, "Findings"): show the cluster's weakest link, the pair
        # a reviewer has most reason to doubt
        weakest = sorted((raw.get("weakest_link") or {}).get("records") or [])
        pairs = [p for p in raw["pairs"] if isinstance(p, dict)]
        pair = next((p for p in pairs if sorted(p.get("records") or []) == weakest), pairs[0] if pairs else {})
        raw = pair.get("fields") or []
    elif isinstance(raw, dict):
        raw = [{"field": k, **(v if isinstance(v, dict) else {"left": v})} for k, v in raw.items()]
    out = []
    for e in raw if isinstance(raw, list) else []:
        if not isinstance(e, dict):
            continue
        weight = next((e[k] for k in ("weight", "match_weight", "log2_bayes_factor") if e.get(k) is not None), None)
        level = next((e[k] for k in ("level", "comparison_level", "label_for_charts") if e.get(k) is not None), None)
        row = {
            "field": str(e.get("field") or e.get("column_name") or e.get("comparison") or ""),
            "left": e.get("left", e.get("value_l")),
            "right": e.get("right", e.get("value_r")),
            "level": None if level is None else str(level),
            "weight": None if weight is None else float(weight),
        }
        for k in ("m_probability", "u_probability"):
            if e.get(k) is not None:
                row[k] = float(e[k])
        out.append(row)
    return out


class Review:
    """The review items of one stored plan, their standing decisions, and the decided plan built from them."""

    def __init__(self, cfg: Any, plan: Plan | str | Path, *, who: str | None = None) -> None:
        self.cfg = cfg
        self.plan = plan if isinstance(plan, Plan) else load_plan(plan)
        if self.plan.path is None:
            raise SyncAuditError("a review needs a stored plan", hint="save the plan first: plan.save(plans_dir(cfg))")
        self.folder = Path(self.plan.path)
        self.log = DecisionLog(self.folder)
        self.who = who or reviewer(cfg)
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")
        self._snapshot: Any = None
        self.snapshot_problem: str | None = None  # why the records cannot be shown, if they cannot
        self._records: dict[str, dict[str, Any] | None] = {}
        self._load()

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, cfg: Any, plan: str | Path | None = None, **kw: Any) -> Review:
        """The review of ``plan`` (a folder or a hash), or of the newest plan that is not itself a decided plan."""
        root = plans_dir(cfg)
        if plan is not None:
            p = Path(plan)
            return cls(cfg, p if p.is_dir() else root / str(plan), **kw)
        return cls(cfg, newest_plan(root), **kw)

    def _load(self) -> None:
        c = self.con
        plan_cols = ", ".join(f"'{k}': '{v}'" for k, v in _PLAN_COLUMNS.items())
        c.execute(
            f"CREATE TABLE plan_review AS SELECT * FROM read_json({lit(str(self.folder / 'plan.jsonl'))}, "
            f"format='newline_delimited', columns={{{plan_cols}}}) WHERE op = 'review'"
        )
        fpath = findings_file(self.cfg, self.plan.header.get("snapshot_id"))
        if fpath.is_file():
            f_cols = ", ".join(f"'{k}': '{v}'" for k, v in _FINDING_COLUMNS.items())
            c.execute(
                f"CREATE TABLE findings AS SELECT * FROM read_json({lit(str(fpath))}, "
                f"format='newline_delimited', columns={{{f_cols}}}) "
                "WHERE id IN (SELECT finding_id FROM plan_review)"
            )
        else:  # the plan's findings were removed: items still show what the plan holds
            cols = ", ".join(f'"{k}" {v}' for k, v in _FINDING_COLUMNS.items())
            c.execute(f"CREATE TABLE findings ({cols})")
        c.execute(
            """
            CREATE TABLE items AS
            WITH j AS (
                SELECT p.*, coalesce(p.finding_id, p.idempotency_key) AS fid,
                       count(*) OVER (PARTITION BY coalesce(p.finding_id, p.idempotency_key)) AS n
                FROM plan_review p
            )
            SELECT CASE WHEN j.n > 1 THEN j.fid || ':' || j.seq ELSE j.fid END AS id,
                   j.seq, coalesce(f.kind, j.policy) AS kind, j.policy, j.system, j.object,
                   coalesce(f.records, CAST(json_extract(j.after, '$.records') AS VARCHAR[]),
                            CASE WHEN j.key IS NULL THEN [] ELSE [j.key] END) AS records,
                   coalesce(f.suggested_survivor, json_extract_string(j.after, '$.suggested_survivor'))
                       AS suggested_survivor,
                   coalesce(f.severity, 'medium') AS severity, f.confidence, coalesce(f.detail, '') AS detail,
                   coalesce(j.note, '') AS note,
                   coalesce(f.evidence, json_extract(f.extra, '$.evidence')) AS evidence,
                   json_extract(f.extra, '$.merge') AS merge, f."values" AS vals, j.after, j.before, f.extra
            FROM j LEFT JOIN findings f ON f.id = j.finding_id
            """
        )
        c.execute(
            "CREATE TABLE decided (item VARCHAR PRIMARY KEY, decision VARCHAR, survivor VARCHAR, who VARCHAR, "
            "decided_at VARCHAR, carried_from VARCHAR)"
        )
        c.execute("CREATE TABLE outdated (item VARCHAR PRIMARY KEY)")
        self._carry_rejections()
        for d in self.log.latest().values():
            self._record(d)

    def _carry_rejections(self) -> None:
        earlier = {k: d for k, d in earlier_decisions(plans_dir(self.cfg), self.folder.name).items()}
        rejected = {k: d for k, d in earlier.items() if d.decision == "reject"}
        if not rejected:
            return
        ids = list(rejected)
        for item in self._items("WHERE id IN (SELECT unnest(?))", [ids]):
            d = rejected[item.id]
            if d.evidence == item.digest:
                self._record(replace(d, carried_from=d.carried_from or d.plan))
            else:
                self.con.execute("INSERT OR IGNORE INTO outdated VALUES (?)", [item.id])

    def _record(self, d: Decision) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO decided VALUES (?, ?, ?, ?, ?, ?)",
            [d.item, d.decision, d.survivor, d.who, d.when, d.carried_from],
        )

    # ------------------------------------------------------------ reading

    def _where(
        self,
        kind: str | None = None,
        severity: str | None = None,
        min_confidence: float | None = None,
        status: str | None = None,
    ) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if kind:
            clauses.append("i.kind = ?")
            params.append(kind)
        if severity:
            clauses.append("i.severity = ?")
            params.append(severity)
        if min_confidence is not None and min_confidence > 0:
            clauses.append("coalesce(i.confidence, 0) >= ?")
            params.append(float(min_confidence))
        if status == "pending":
            clauses.append("d.decision IS NULL")
        elif status in DECISIONS:
            clauses.append("d.decision = ?")
            params.append(status)
        elif status not in (None, "", "all"):
            raise SyncAuditError(f"unknown status {status!r}", hint="use pending, approve, reject or all")
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    _ORDER = (
        "ORDER BY CASE i.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, "
        "coalesce(i.confidence, 0) DESC, i.seq"
    )

    def _items(self, where: str = "", params: list[Any] | None = None, tail: str = "") -> list[ReviewItem]:
        rows = self.con.execute(
            "SELECT i.id, i.seq, i.kind, i.policy, i.system, i.object, i.records, i.suggested_survivor, i.severity, "
            "i.confidence, i.detail, i.note, i.evidence, i.merge, i.vals, i.after, i.before, i.extra, d.decision, "
            "d.survivor, d.who, d.decided_at, d.carried_from, o.item IS NOT NULL "
            f"FROM items i LEFT JOIN decided d ON d.item = i.id LEFT JOIN outdated o ON o.item = i.id {where} {tail}",
            params or [],
        ).fetchall()
        return [_item(r) for r in rows]

    def count(self, **filters: Any) -> int:
        where, params = self._where(**filters)
        sql = f"SELECT count(*) FROM items i LEFT JOIN decided d ON d.item = i.id {where}"
        return int(self.con.execute(sql, params).fetchone()[0])

    def __len__(self) -> int:
        return self.count()

    def page(self, number: int = 0, size: int = PAGE_SIZE, **filters: Any) -> list[ReviewItem]:
        """Items ``number * size`` onwards (highest severity and confidence first), filtered by kind, severity,
        min_confidence and status (pending | approve | reject | all)."""
        where, params = self._where(**filters)
        return self._items(where, params, f"{self._ORDER} LIMIT {int(size)} OFFSET {int(number) * int(size)}")

    def item(self, item_id: str) -> ReviewItem:
        found = self._items("WHERE i.id = ?", [item_id])
        if not found:
            raise SyncAuditError(
                f"plan {self.plan.hash} has no review item {item_id!r}",
                hint="take an id from review.page() (or review.items_frame())",
            )
        return found[0]

    def choices(self) -> dict[str, list[str]]:
        """The kinds and severities present, for the filters."""
        kinds = [r[0] for r in self.con.execute("SELECT DISTINCT kind FROM items ORDER BY 1").fetchall()]
        sev = [r[0] for r in self.con.execute("SELECT DISTINCT severity FROM items").fetchall()]
        return {"kind": kinds, "severity": sorted(sev, key=lambda s: SEVERITY_ORDER.get(s, 9))}

    def counts(self) -> dict[str, int]:
        """Items by status: pending, approve, reject (carried rejections included)."""
        rows = self.con.execute(
            "SELECT coalesce(d.decision, 'pending'), count(*) FROM items i LEFT JOIN decided d ON d.item = i.id "
            "GROUP BY 1"
        ).fetchall()
        return {"pending": 0, "approve": 0, "reject": 0, **dict(rows)}

    def items_frame(self, **filters: Any) -> Any:
        """All (filtered) items as a pandas DataFrame, one row each, without evidence."""
        where, params = self._where(**filters)
        return self.con.execute(
            "SELECT i.id, i.kind, i.policy, i.system, i.object, i.severity, i.confidence, i.records, "
            "i.suggested_survivor, coalesce(d.decision, 'pending') AS status, d.survivor, d.who, d.decided_at, "
            f"d.carried_from FROM items i LEFT JOIN decided d ON d.item = i.id {where} {self._ORDER}",
            params,
        ).df()

    def next_pending(self, after: str | None = None, **filters: Any) -> ReviewItem | None:
        """The first undecided item after ``after`` in review order (or from the top), with the filters."""
        filters = {**filters, "status": "pending"}
        where, params = self._where(**filters)
        if after is not None:
            pos = self.con.execute(
                f"SELECT rank FROM (SELECT i.id, row_number() OVER ({self._ORDER}) AS rank FROM items i) WHERE id = ?",
                [after],
            ).fetchone()
            if pos is not None:
                where = (where + " AND " if where else "WHERE ") + (
                    f"i.id IN (SELECT id FROM (SELECT i.id, row_number() OVER ({self._ORDER}) AS rank FROM items i) "
                    "WHERE rank > ?)"
                )
                params = [*params, pos[0]]
        found = self._items(where, params, f"{self._ORDER} LIMIT 1")
        return found[0] if found else None

    # ------------------------------------------------------------ deciding

    def decide(self, item_id: str, decision: str, *, survivor: str | None = None, who: str | None = None) -> Decision:
        """Approve or reject one item (``survivor`` edits the suggested survivor of an approval); saved at once."""
        decision = {"approved": "approve", "rejected": "reject"}.get(decision, decision)
        if decision == "skip":
            raise SyncAuditError("skip is not a decision", hint="call review.skip(item_id) to move on without one")
        if decision not in DECISIONS:
            raise SyncAuditError(f"unknown decision {decision!r}", hint="decide 'approve' or 'reject'")
        item = self.item(item_id)
        if survivor is not None and survivor not in item.records:
            raise SyncAuditError(
                f"{survivor!r} is not one of item {item_id}'s records ({', '.join(item.records)})",
                hint="choose the survivor among the item's records",
            )
        if decision == "approve" and survivor is None:
            survivor = item.suggested_survivor
        d = Decision(
            item=item.id,
            decision=decision,
            survivor=survivor if decision == "approve" else None,
            who=who or self.who,
            when=now_iso(),
            evidence=item.digest,
            plan=self.plan.hash,
            seq=item.seq,
        )
        self.log.append(d)
        self._record(d)
        return d

    def skip(self, item_id: str, **filters: Any) -> ReviewItem | None:
        """No decision: the next undecided item after this one."""
        self.item(item_id)
        return self.next_pending(item_id, **filters)

    def standing(self) -> dict[str, Decision]:
        """Every item's standing decision (this plan's own and carried rejections), by item id."""
        rows = self.con.execute(
            "SELECT d.item, d.decision, d.survivor, d.who, d.decided_at, d.carried_from, i.seq FROM decided d "
            "JOIN items i ON i.id = d.item"
        ).fetchall()
        return {
            r[0]: Decision(r[0], r[1], r[2], r[3], r[4], "", self.plan.hash, r[6], r[5])  # evidence not needed here
            for r in rows
        }

    # ------------------------------------------------------------ records and the decided plan

    @property
    def snapshot(self) -> Any:
        if self._snapshot is None:
            from syncaudit.snapshot import open_snapshot

            self._snapshot = open_snapshot(self.cfg, self.plan.header.get("snapshot_id"))
        return self._snapshot

    def records(self, item: ReviewItem) -> dict[str, dict[str, Any] | None]:
        """The item's records as the snapshot holds them (None where a record is not in the snapshot)."""
        from syncaudit.changes.review_records import fetch_records

        missing = [r for r in item.records if r not in self._records]
        if missing and self.snapshot_problem is None:
            try:
                con = self._con_snapshot()
            except SyncAuditError as exc:  # the plan's snapshot was removed: show what the plan and findings hold
                self.snapshot_problem = exc.message
                return {r: None for r in item.records}
            self._records.update(fetch_records(self.snapshot, con, missing, item.object))
        return {r: self._records.get(r) for r in item.records}

    def _con_snapshot(self) -> duckdb.DuckDBPyConnection:
        if getattr(self, "_snap_con", None) is None:
            self._snap_con = self.snapshot.duckdb()
            self._snap_con.execute("SET enable_progress_bar = false")
        return self._snap_con

    def comparison(self, item: ReviewItem) -> tuple[list[str], list[tuple[str, list[Any]]], list[dict[str, Any]]]:
        """(record ids, rows of (field, value per record), evidence) for showing an item side by side. The evidence
        is the audit's where it recorded any, else the records' mapped fields compared here (no weights)."""
        from syncaudit.changes.review_records import compare, side_by_side

        recs = self.records(item)
        rows = side_by_side(self.cfg, item, recs)
        return item.records, rows, item.evidence or compare(rows, item.records)

    def build_plan(self) -> Plan:
        """The decided plan (a new folder and hash): approved items become their writes where syncaudit can make
        them, or stay as approved worklist items; rejected items are left out; undecided ones stay for review."""
        from syncaudit.changes.decided_plan import build_decided_plan

        return build_decided_plan(self)

    def __repr__(self) -> str:
        c = self.counts()
        return (
            f"Review of plan {self.plan.hash}: {sum(c.values())} items, {c['pending']} pending, "
            f"{c['approve']} approved, {c['reject']} rejected (decisions: {self.log.path})"
        )


def _json(v: Any) -> Any:
    if v is None or not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except ValueError:
        return v


def _item(r: tuple) -> ReviewItem:
    (iid, seq, kind, policy, system, obj, records, suggested, severity, confidence, detail, note) = r[:12]
    evidence, merge, vals, after, before, extra = (_json(x) for x in r[12:18])
    decision, survivor, who, at, carried, outdated = r[18:24]
    after = after or {}
    if merge:
        proposal: dict[str, Any] = {"merge": merge}
    elif "records" not in after and after:
        proposal = {"after": after, "before": before or {}}
    else:
        proposal = {}
    return ReviewItem(
        id=iid,
        seq=int(seq),
        kind=kind,
        policy=policy or "",
        system=system or "",
        object=obj or "",
        records=[str(x) for x in records or []],
        suggested_survivor=suggested,
        severity=severity,
        confidence=confidence,
        detail=detail,
        note=note,
        evidence=normalize_evidence(evidence),
        proposal=proposal,
        values={k: v for k, v in (vals or {}).items() if v is not None} if isinstance(vals, dict) else {},
        status=decision or "pending",
        survivor=survivor,
        decided_by=who,
        decided_at=at,
        carried_from=carried,
        earlier_rejection_outdated=bool(outdated),
        extra=extra if isinstance(extra, dict) else {},
    )


def newest_plan(root: Path) -> Path:
    """The newest plan folder under ``root`` that is not a decided plan (built from another plan's review)."""
    best: tuple[float, Path] | None = None
    for folder in root.iterdir() if root.is_dir() else []:
        header = folder / "plan.json"
        if not header.is_file():
            continue
        try:
            if json.loads(header.read_text(encoding="utf-8")).get("base_plan"):
                continue
        except ValueError:
            continue
        t = header.stat().st_mtime
        if best is None or t > best[0]:
            best = (t, folder)
    if best is None:
        raise SyncAuditError(f"no change plan under {root}", hint="run `syncaudit plan --config F` first")
    return best[1]
