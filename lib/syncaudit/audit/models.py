"""The audit's trained matching models, one per kind (people, company), trained once per audit.

People train on the two systems' active people together (link), where the identity keys and shared
emails give EM many true pairs to learn from; the m so learned also serves each system's duplicate
search. A system alone trains on itself. Companies likewise on Accounts and Intercom companies.
"""

from __future__ import annotations

from syncaudit.audit.comparisons import Model
from syncaudit.audit.context import AuditContext
from syncaudit.audit.match_fields import columns
from syncaudit.audit.matching import input_sql, train

SOURCES = {
    "people": (
        ("(SELECT * FROM sa_sf_people WHERE NOT is_deleted AND NOT is_converted)", "sf_id"),
        ("(SELECT * FROM sa_ic_people WHERE NOT archived)", "ic_id"),
    ),
    "company": (
        ("(SELECT * FROM sa_sf_accounts WHERE NOT is_deleted)", "sf_id"),
        ("sa_ic_companies", "ic_id"),
    ),
}


def model_for(ctx: AuditContext, kind: str) -> Model:
    """The trained model of ``kind`` (cached on the context)."""
    if kind in ctx.models:
        return ctx.models[kind]
    base = Model(kind, columns(ctx.mapping, kind))
    tables = []
    for i, (src, uid) in enumerate(SOURCES[kind]):
        t = f"sa_m_train_{i}"
        ctx.con.execute(f"CREATE OR REPLACE TABLE {t} AS {input_sql(base, src, uid)}")
        if ctx.count(t):
            tables.append(t)
    model = train(ctx.con, base, tables) if tables else base
    for i in range(2):
        ctx.con.execute(f"DROP TABLE IF EXISTS sa_m_train_{i}")
    ctx.models[kind] = model
    ctx.metrics.setdefault("matching", {})[kind] = {
        "columns": [c.name for c in model.columns],
        "trained_on": "link" if len(tables) == 2 else ("dedupe" if tables else "nothing"),
    }
    return model
