"""Probabilistic record matching with Splink on the audit's DuckDB connection: training and scoring.

The model is built from the mapping's matching fields (``ObjectPair.match_fields``; the comparisons are
in :mod:`syncaudit.audit.comparisons`). A field that is empty on either record gives no evidence.
Nothing in the model is a hand-set probability:

- u (how often two different records agree at a level) comes from random pairs of the data at hand
  (a fixed number of pairs from a sample of rows, so training costs the same at any size);
- m (how often one record seen twice agrees at a level) is estimated by Splink's EM over blocking rules
  on a sample of the blocks: for identity gaps on the two systems' people together (the identity keys
  link most of them, so EM sees many true pairs), for duplicates on each system's own records (a copy
  inside one system often carries another address, which pairs the sync keeps equal would not show);
  every level's m and u are add-one smoothed, so a level no training pair showed is not proof;
- the prior comes from the pairs a deterministic key joins, else from EM's own estimate;
- term-frequency adjustments weigh a shared rare name or employer above a shared common one;
- shared values are weak evidence by construction: an email at a role mailbox (info@, support@, ...) or
  held by three or more records, a phone held by three or more records (a switchboard), a website domain
  shared by a parent and its subsidiaries each have their own level, whose m and u the data estimate.

Two non-empty, different identity keys are near-proof of two people: such pairs are never returned.
Every returned pair carries its evidence field by field (values, level, match weight).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import duckdb

from syncaudit.audit.comparisons import (
    ADDRESS_TYPES,
    FULL_NAME,
    JOINT_NAME_LABEL,
    ROLE_MAILBOXES,
    SHARED_MIN,
    Model,
    block_keys,
    blocking,
    comparisons,
    key_sql,
    training_rules,
)
from syncaudit.audit.engine import is_spark, splink_api, splink_register, splink_settings
from syncaudit.loadfolder import lit, q

logging.getLogger("splink").setLevel(logging.ERROR)

# Training reads a sample: rows per table for the random pairs (u), block keys per EM rule and rows per key.
TRAIN_ROWS = 200_000
EM_KEYS = 50_000
EM_GROUP_MAX = 20
# Random pairs for u: a level with u = 1e-5 is seen about twice (and smoothed); more only costs time.
U_PAIRS = 2e5
# A blocking key (a full name, two narrowing fields) held by more records than this is no block (_capped_blocks).
NAME_BLOCK_MAX = 100
# Each composite blocking rule gives at most this many candidate pairs per input record (smallest blocks kept
# first), and never fewer than PAIRS_FLOOR in all: small orgs keep every block up to NAME_BLOCK_MAX.
# (0.5 until ten million a side with ten million Tasks and conversations took 21 minutes; 0.3 gave the same
# findings there in 18.7 minutes: bench/README.md.)
PAIRS_PER_RECORD = 0.3
PAIRS_FLOOR = 1_000_000
# Candidate pairs scored in one pass of predict_pairs: more are scored in chunks of the left records, each
# chunk's pairs above the threshold appended to the output (no spilled join of all pairs at once).
PAIRS_PER_CHUNK = 20_000_000


def input_sql(model: Model, src: str, uid: str, extra: str = "") -> str:
    """SELECT of a model input table from ``src`` (rows with a ``uid``, ``id_key`` and the ``mf_*`` columns).

    In ``uid`` order: training and scoring read the table in its stored order, and a second pull of the same
    records (paged in another order) otherwise trained another model and found other fuzzy pairs."""
    cols = [f"{uid} AS uid", "id_key", *(f"mf_{c.name}" for c in model.columns)]
    first, last = model.has("first_name"), model.has("last_name")
    if first:
        cols += ["mf_first_name_groups", "mf_first_name_key"]
    if first and last:  # the whole name, for its own term frequencies (comparisons.FULL_NAME)
        f, ln = f"mf_{first[0]}", f"mf_{last[0]}"
        cols.append(f"CASE WHEN {f} IS NOT NULL AND {ln} IS NOT NULL THEN {f} || ' ' || {ln} END AS {FULL_NAME}")
    if model.kind == "company":
        cols.append("parent_id")
    return f"SELECT {', '.join(cols)}{extra} FROM {src} ORDER BY 1"


def _capped_blocks(con: duckdb.DuckDBPyConnection, model: Model, tables: list[str]) -> None:
    """Add the blocking keys of comparisons.block_keys to the input tables, each empty where the key is too
    common, and record what each key gives in ``sa_m_blocking`` (for the chunking of predict_pairs).

    A block on a key held by ``n`` records gives n(n-1)/2 candidate pairs (``n_left * n_right`` when linking two
    tables), so a common key grows with the square of the records holding it: hundreds of millions of pairs
    at ten million people with realistic name frequencies, where ten times the people put ten times as many in
    each postal code and behind each common name. Two caps keep each rule's pairs linear in the data:

    - a key held by more than NAME_BLOCK_MAX records is no block (a common full name, or a city's postal code);
    - the keys are kept smallest first while their pairs stay within the rule's budget, PAIRS_PER_RECORD pairs
      per input record (never less than PAIRS_FLOOR): the denser the data, the smaller the blocks kept.

    Records in a dropped block still meet through the other rules (an own email or phone, a name with a
    company, a date or a street); the pairs they lose are the ones a key too common to tell people apart gave.
    """
    sizes = [con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables]
    budget = max(PAIRS_FLOOR, int(PAIRS_PER_RECORD * sum(sizes)))
    link = len(tables) == 2
    pairs = (
        "sum(CASE WHEN s = 0 THEN 1 ELSE 0 END) * sum(CASE WHEN s = 1 THEN 1 ELSE 0 END)"
        if link
        else "CAST(count(*) * (count(*) - 1) / 2 AS BIGINT)"
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS sa_m_blocking(tables VARCHAR, key VARCHAR, blocks BIGINT, pairs BIGINT,
        kept_blocks BIGINT, kept_pairs BIGINT, max_pairs_per_block BIGINT)"""
    )
    label = ",".join(tables)
    # A key is stored as a 64-bit hash of its parts (eight bytes instead of a name and a place: eighteen keys on
    # twenty million records are gigabytes as text). A collision only adds candidate pairs, which the model
    # scores like any other.
    hash_fn = "xxhash64" if is_spark(con) else "hash"

    def hashed(parts: list[str]) -> str:
        present = " AND ".join(f"{p} IS NOT NULL" for p in parts)
        return f"CASE WHEN {present} THEN {hash_fn}(concat_ws('|', {', '.join(parts)})) END"

    todo = [(c, parts) for c, parts in block_keys(model) if not all(c in _columns(con, t) for t in tables)]
    if todo:  # new input tables (the duplicate search reuses one name per group): the old figures go
        con.execute(f"DELETE FROM sa_m_blocking WHERE tables = {lit(label)}")
    for i, (column, parts) in enumerate(todo):
        union = " UNION ALL ".join(f"SELECT {j} AS s, {hashed(parts)} AS k FROM {t}" for j, t in enumerate(tables))
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE sa_m_keycount AS SELECT k, count(*) AS c, {pairs} AS p
            FROM ({union}) WHERE k IS NOT NULL GROUP BY k"""
        )
        # The largest pairs-per-block such that the blocks giving at most that many stay within the budget.
        limit = int(
            con.execute(
                f"""SELECT coalesce(max(p), 0) FROM (
                    SELECT p, sum(tp) OVER (ORDER BY p ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
                    FROM (SELECT p, sum(p) AS tp FROM sa_m_keycount WHERE c <= {NAME_BLOCK_MAX} GROUP BY p)
                ) WHERE cum <= {budget}"""
            ).fetchall()[0][0]
        )
        kept = f"c <= {NAME_BLOCK_MAX} AND p <= {limit}"
        con.execute(
            f"""INSERT INTO sa_m_blocking SELECT {lit(label)}, {lit(column)}, count(*), coalesce(sum(p), 0),
                count(*) FILTER (WHERE {kept}), coalesce(sum(p) FILTER (WHERE {kept}), 0), {limit}
            FROM sa_m_keycount WHERE p > 0"""
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE sa_m_common_{i} AS SELECT k FROM sa_m_keycount WHERE NOT ({kept})")
    if todo:
        # One pass over each input adds every key (a pass per key rewrote ten-million-row tables twenty times).
        for t in tables:
            keep = [c for c in _columns(con, t) if c not in {col for col, _ in todo}]
            keys = []
            for i, (column, parts) in enumerate(todo):
                k = hashed(parts)
                keys.append(f"CASE WHEN {k} IN (SELECT k FROM sa_m_common_{i}) THEN NULL ELSE {k} END AS {column}")
            con.execute(f"CREATE OR REPLACE TABLE {t} AS SELECT {', '.join(map(q, keep))}, {', '.join(keys)} FROM {t}")
    for tmp in ["sa_m_keycount", *(f"sa_m_common_{i}" for i in range(len(todo)))]:
        con.execute(f"DROP TABLE IF EXISTS {tmp}")


def blocking_stats(con: duckdb.DuckDBPyConnection, tables: list[str]) -> list[dict[str, Any]]:
    """What each composite blocking key gave on ``tables`` (written by _capped_blocks): blocks and candidate
    pairs before and after the caps, and the largest block's pairs kept."""
    cols = ["key", "blocks", "pairs", "kept_blocks", "kept_pairs", "max_pairs_per_block"]
    try:
        rows = con.execute(
            f"SELECT {', '.join(cols)} FROM sa_m_blocking WHERE tables = {lit(','.join(tables))} ORDER BY key"
        ).fetchall()
    except duckdb.Error:
        return []
    return [dict(zip(cols, (r[0], *(int(x) for x in r[1:])), strict=True)) for r in rows]


def _shared_flags(con: duckdb.DuckDBPyConnection, model: Model, tables: list[str]) -> None:
    """Add ``mf_<c>_shared`` to the input tables: role mailboxes and values held by many records (weak)."""
    for c in model.columns:
        if c.compare not in ("email", "phone", "domain"):
            continue
        col = f"mf_{c.name}"
        if all(f"{col}_shared" in _columns(con, t) for t in tables):
            continue  # flagged already (the duplicate search trains and predicts on one table)
        union = " UNION ALL ".join(f"SELECT {col} AS v, {'parent_id' if c.compare == 'domain' else 'NULL'} AS p, uid "
                                   f"FROM {t}" for t in tables)  # fmt: skip
        family = "OR count(p) > 0" if c.compare == "domain" else ""
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE sa_m_shared AS SELECT v FROM ({union}) WHERE v IS NOT NULL
            GROUP BY v HAVING count(*) >= {SHARED_MIN} {family}"""
        )
        role = (
            f"OR split_part(t.{col}, '@', 1) IN ({', '.join(lit(r) for r in ROLE_MAILBOXES)})"
            if c.compare == "email"
            else ""
        )
        for t in tables:
            con.execute(
                f"""CREATE OR REPLACE TABLE {t} AS SELECT t.*,
                    (t.{col} IS NOT NULL AND (t.{col} IN (SELECT v FROM sa_m_shared) {role})) AS {col}_shared,
                    CASE WHEN NOT (t.{col} IS NOT NULL AND (t.{col} IN (SELECT v FROM sa_m_shared) {role}))
                         THEN t.{col} END AS {col}_own
                FROM {t} t"""
            )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}


def _non_empty(con: duckdb.DuckDBPyConnection, model: Model, tables: list[str]) -> Model:
    """The model without columns that are empty in every input table (they could give no evidence)."""
    keep = []
    for c in model.columns:
        n = sum(con.execute(f"SELECT count(mf_{c.name}) FROM {t}").fetchall()[0][0] for t in tables)
        if n:
            keep.append(c)
    return Model(model.kind, keep, model.trained, model.labels)


def _settings(model: Model, link_type: str, prior: float, *, predict: bool = True) -> Any:
    """Splink settings of the model; without the prediction blocking rules for training (``predict=False``): their
    key columns are added only to the tables pairs are scored on (_capped_blocks), and Splink selects every
    column a rule names when it compares training pairs."""
    from splink import SettingsCreator

    return SettingsCreator(
        link_type=link_type,
        probability_two_random_records_match=prior,
        unique_id_column_name="uid",
        comparisons=comparisons(model),
        blocking_rules_to_generate_predictions=blocking(model) if predict else [],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
        additional_columns_to_retain=["id_key"],
    )


def _u_rows(sizes: list[int], n_u: float) -> list[int]:
    """Rows per table whose pairs number at most ``n_u``: as many as Splink's ``estimate_u`` would sample.

    The rows are picked here, by the md5 of the uid (which DuckDB and Spark compute alike), and Splink then
    takes all their pairs: its own sampler hashes with the backend's ``hash()``, which differs between
    DuckDB and Spark, so the two engines would otherwise estimate u from different pairs."""
    if len(sizes) == 1:
        return [min(sizes[0], int(0.5 * ((8 * n_u + 1) ** 0.5 + 1)))]
    p = min(1.0, (n_u / max(sizes[0] * sizes[1], 1)) ** 0.5)
    return [max(1, int(s * p)) for s in sizes]


def _training_inputs(con: duckdb.DuckDBPyConnection, tables: list[str], rules: list[list[str]],
                     u_rows: list[int]) -> tuple[list, list]:  # fmt: skip
    """(u tables, EM tables): a deterministic sample of rows for the random pairs, and the rows of a sample of
    the training blocks (keys shared within the data, at most EM_GROUP_MAX rows each) for EM, so training
    costs the same on a million records as on a hundred thousand. Samples are ordered by md5 (the same on
    every engine), ties by the value itself."""
    u_tables, em_tables = [], []
    for i, t in enumerate(tables):
        u = f"sa_m_u_{i}"
        con.execute(f"CREATE OR REPLACE TABLE {u} AS SELECT * FROM {t} ORDER BY md5(uid), uid LIMIT {u_rows[i]}")
        u_tables.append(u)
    link = len(tables) == 2
    for r, cols in enumerate(rules):
        union = " UNION ALL ".join(f"SELECT {i} AS s, {key_sql(cols)} AS key FROM {t}" for i, t in enumerate(tables))
        con.execute(
            f"""CREATE OR REPLACE TABLE sa_m_keys_{r} AS SELECT key FROM ({union}) WHERE key IS NOT NULL
            GROUP BY key HAVING count(*) BETWEEN 2 AND {EM_GROUP_MAX} {"AND count(DISTINCT s) = 2" if link else ""}
            ORDER BY md5(key), key LIMIT {EM_KEYS}"""
        )
    for i, t in enumerate(tables):
        em = f"sa_m_em_{i}"
        cond = " OR ".join(f"{key_sql(cols)} IN (SELECT key FROM sa_m_keys_{r})" for r, cols in enumerate(rules))
        con.execute(f"CREATE OR REPLACE TABLE {em} AS SELECT * FROM {t} WHERE {cond or 'false'}")
        em_tables.append(em)
    return u_tables, em_tables


def _prior(
    con: duckdb.DuckDBPyConnection, model: Model, tables: list[str], sizes: list[int], trained: float | None = None
) -> float:
    """P(two random records match): from the pairs a deterministic key joins (the identity key across the
    systems, an own email or domain within one), taken as 60% of the true matches; without any, for dedupe the
    share EM estimated (``trained``); without that (and always for links), a small share of records with a match
    (20% of the smaller side for links, 2% for dedupe).

    A link without key pairs is the audit's pools (records no key or email linked): another population than the
    training tables, and EM's share, carried from its sampled blocks back to all pairs, grew with the org (about
    6e-4 at a million people a side, 2e-2 at ten million), so that at ten million a namesake in another company
    and city (full name, nothing else) scored 0.998. The pools' own sizes give the prior instead."""
    if len(tables) == 1:
        n = sizes[0]
        total = n * (n - 1) / 2
        own = [f"mf_{c.name}_own" for c in model.columns if c.compare in ("email", "domain")]
        det = 0
        if own:
            det = con.execute(
                f"SELECT coalesce(sum(c * (c - 1) / 2), 0) FROM (SELECT count(*) c FROM {tables[0]} "
                f"WHERE {own[0]} IS NOT NULL GROUP BY {own[0]})"
            ).fetchall()[0][0]
        fallback = 0.02 * n
    else:
        total = sizes[0] * sizes[1]
        det = con.execute(f"SELECT count(*) FROM {tables[0]} a JOIN {tables[1]} b ON a.id_key = b.id_key").fetchall()[
            0
        ][0]
        fallback = 0.2 * min(sizes)
    if not det and trained and len(tables) == 1:
        return float(min(max(trained, 1e-9), 0.5))
    expected = det / 0.6 if det else fallback
    return float(min(max(expected / max(total, 1), 1e-9), 0.5))


def train(con: duckdb.DuckDBPyConnection, model: Model, tables: list[str]) -> Model:
    """Estimate u (random pairs) and m (EM over blocking rules) on ``tables`` (one = dedupe, two = link)."""
    from splink import Linker, block_on

    _shared_flags(con, model, tables)
    model = _non_empty(con, model, tables)
    sizes = [con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables]
    if not model.columns or min(sizes) == 0 or sum(sizes) < 3:
        return model
    link_type = "dedupe_only" if len(tables) == 1 else "link_only"
    rules = training_rules(model)
    n_u = min(U_PAIRS, max(1e5, sum(min(s, TRAIN_ROWS) for s in sizes) * 2.0))
    u_tables, em_tables = _training_inputs(con, tables, rules, _u_rows(sizes, n_u))
    db_api = splink_api(con)

    def linker_on(names: list[str], settings: Any) -> Any:
        sdfs = [splink_register(db_api, con, t, f"__sa_tr_{t}") for t in names]
        return Linker(sdfs if len(sdfs) > 1 else sdfs[0], splink_settings(con, settings), log_level=None)

    prior = _prior(con, model, tables, sizes)
    linker = linker_on(u_tables, _settings(model, link_type, prior, predict=False))
    linker.training.estimate_u_using_random_sampling(max_pairs=n_u, seed=1, num_chunks=1)
    with_u = linker.misc.save_model_to_json()
    linker.table_management.delete_tables_created_by_splink_from_db()
    linker = linker_on(em_tables, with_u) if all(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                                                  for t in em_tables) else None  # fmt: skip
    for cols in rules if linker is not None else []:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(*cols))
        except Exception as e:  # noqa: BLE001 - too few pairs in a block: the other rule still trains
            # A column the audit's tables lack is no lack of data: never train silently without EM. (A rule that
            # blocks on every compared field leaves Splink no comparison, whose SQL it cannot even write: skipped.)
            if any(kind in str(e) for kind in ("Binder Error", "Catalog Error", "UNRESOLVED_COLUMN")):
                raise
            logging.getLogger(__name__).info("EM on %s skipped: %s", cols, e)
    trained = with_u
    if linker is not None:
        try:  # the share of matches EM saw in its blocks, carried back to all pairs (Splink's own estimate)
            linker._populate_probability_two_random_records_match_from_trained_values()  # noqa: SLF001
        except Exception as e:  # noqa: BLE001 - no EM session trained: keep the prior from the keys
            logging.getLogger(__name__).info("no trained prior: %s", e)
        trained = linker.misc.save_model_to_json()
        linker.table_management.delete_tables_created_by_splink_from_db()
    lam = trained.get("probability_two_random_records_match")
    if not isinstance(lam, int | float) or not math.isfinite(lam) or not 0 < lam < 1:
        # EM gave no usable share (a block without evidence either way): keep the prior from the keys.
        trained["probability_two_random_records_match"] = _prior(con, model, tables, sizes)
    for t in [*u_tables, *em_tables, *(f"sa_m_keys_{r}" for r in range(len(rules)))]:
        con.execute(f"DROP TABLE IF EXISTS {t}")
    _smooth(trained, _known_matches(con, model, tables), n_u)
    # The prediction blocking rules, rendered for the engine as the rest of the model was.
    full = splink_settings(con, _settings(model, link_type, prior))
    full = full if isinstance(full, dict) else full.create_settings_dict("duckdb")
    trained["blocking_rules_to_generate_predictions"] = full["blocking_rules_to_generate_predictions"]
    return Model(model.kind, model.columns, trained, _labels(trained))


def _known_matches(con: duckdb.DuckDBPyConnection, model: Model, tables: list[str]) -> int:
    """How many true pairs the training data shows for sure (equal identity keys across the systems, or an
    own email within one): the sample size behind the estimated m."""
    sizes = [con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables]
    p = _prior(con, model, tables, sizes)
    total = sizes[0] * sizes[1] if len(tables) == 2 else sizes[0] * (sizes[0] - 1) / 2
    return int(p * total * 0.6)


def _smooth(trained: dict[str, Any], n_m: float, n_u: float) -> None:
    """Add-one (Laplace) smoothing of each comparison's m and u over its levels.

    EM on a small org, or u from random pairs, leaves rare levels unobserved; Splink would then use 1e-6,
    which turns one nickname or one swapped name into near-proof for or against a match. With one pseudo
    observation per level, a level seen in no training pair weighs what one observation in ``n`` would.
    """
    for comp in trained["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        k = len(levels)
        for key, n in (("m_probability", n_m), ("u_probability", n_u)):
            vals = [lv.get(key) if isinstance(lv.get(key), int | float) else 0.0 for lv in levels]
            total = sum(vals) or 1.0
            for lv, v in zip(levels, vals, strict=True):
                lv[key] = (v / total * n + 1.0) / (n + k)


def _labels(trained: dict[str, Any]) -> dict[str, dict[int, str]]:
    """comparison -> gamma value -> level label (Splink numbers non-null levels from the top down)."""
    out = {}
    for comp in trained["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        out[comp["output_column_name"]] = {
            len(levels) - 1 - i: lv.get("label_for_charts", "") for i, lv in enumerate(levels)
        }
    return out


def _evidence_sql(model: Model, trained: dict[str, Any]) -> str:
    """A JSON list of {field, left, right, level, weight} per comparison with evidence (non-null level)."""
    items = []
    for comp in trained["comparisons"]:
        name = comp["output_column_name"]
        labels = model.labels.get(name, {})
        case = " ".join(f"WHEN {g} THEN {lit(lbl)}" for g, lbl in labels.items())
        if name == "address":
            parts = [f"mf_{c.name}" for c in model.columns if c.compare in ADDRESS_TYPES]
            left = "concat_ws(', ', " + ", ".join(f"{p}_l" for p in parts) + ")"
            right = "concat_ws(', ', " + ", ".join(f"{p}_r" for p in parts) + ")"
        else:
            left, right = f"mf_{name}_l", f"mf_{name}_r"
            joint = [g for g, lbl in labels.items() if lbl == JOINT_NAME_LABEL]
            if joint:  # the whole name agreed: show it (the first-name comparison shows nothing then)
                left = f"CASE WHEN gamma_{name} = {joint[0]} THEN {FULL_NAME}_l ELSE {left} END"
                right = f"CASE WHEN gamma_{name} = {joint[0]} THEN {FULL_NAME}_r ELSE {right} END"
        tf = any(lv.get("tf_adjustment_column") for lv in comp["comparison_levels"])
        mw = f"mw_{name}" + (f" + coalesce(mw_tf_adj_{name}, 0)" if tf else "")
        items.append(
            f"CASE WHEN gamma_{name} <> -1 THEN json_object('field', {lit(name)}, 'left', {left}, 'right', {right}, "
            f"'level', CASE gamma_{name} {case} END, 'weight', round({mw}, 2)) END"
        )
    return f"to_json(list_filter([{', '.join(items)}], lambda x: x IS NOT NULL))"


def predict_pairs(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    tables: list[str],
    *,
    threshold: float,
    out_table: str,
    stats: dict[str, Any] | None = None,
) -> int:
    """Score candidate pairs and write ``out_table(uid_l, uid_r, p, evidence)`` with p >= threshold.

    ``tables`` hold ``input_sql`` rows: one table = dedupe, two tables = link (left, right). Pairs whose
    identity keys are both set and differ are left out (near-proof of two people). Returns the number of pairs;
    ``stats`` (a dict) receives the candidate pairs per blocking key, their estimate and the chunks scored.
    """
    from splink import Linker

    con.execute(f"CREATE OR REPLACE TABLE {out_table}(uid_l VARCHAR, uid_r VARCHAR, p DOUBLE, evidence JSON)")
    sizes = [con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables]
    if model.trained is None or min(sizes) == 0 or (len(tables) == 1 and sizes[0] < 2):
        return 0
    if not model.trained.get("comparisons"):  # every matching field empty here: no evidence, so no pairs
        return 0
    _shared_flags(con, model, tables)
    # The blocking keys only where pairs are scored (training samples its own pairs: on the linking model's
    # twenty million training records they would be built for nothing).
    _capped_blocks(con, model, tables)
    link_type = "dedupe_only" if len(tables) == 1 else "link_only"
    settings = json.loads(json.dumps(model.trained))
    settings["link_type"] = link_type
    settings["probability_two_random_records_match"] = _prior(
        con, model, tables, sizes, model.trained.get("probability_two_random_records_match")
    )
    db_api = splink_api(con)
    sdfs = [splink_register(db_api, con, t, f"__sa_in_{i}_{t}") for i, t in enumerate(tables)]
    linker = Linker(sdfs if len(sdfs) > 1 else sdfs[0], settings, log_level=None)
    # The candidate pairs to score, at most (the composite keys' kept pairs, plus about one pair per record
    # through an own email, phone or identifier): above PAIRS_PER_CHUNK they are scored a slice of the left
    # records at a time, each slice's pairs above the threshold appended before the next is blocked.
    estimate = sum(b["kept_pairs"] for b in blocking_stats(con, tables)) + sum(sizes)
    chunks = max(1, math.ceil(estimate / PAIRS_PER_CHUNK))
    if stats is not None:
        stats.update(
            records=sizes,
            prior=settings["probability_two_random_records_match"],
            candidate_pairs_at_most=estimate,
            chunks=chunks,
            blocking=blocking_stats(con, tables),
        )
    evidence = _evidence_sql(model, model.trained)
    for i in range(1, chunks + 1):
        pred = linker.inference.predict_chunk(
            left_chunk=(i, chunks), right_chunk=(1, 1), threshold_match_probability=threshold, warning_mode="never"
        )
        con.execute(
            f"""INSERT INTO {out_table}
            SELECT CAST(uid_l AS VARCHAR), CAST(uid_r AS VARCHAR), match_probability, {evidence}
            FROM {q(pred.physical_name)} WHERE NOT coalesce(id_key_l <> id_key_r, false)"""
        )
        pred.drop_table_from_database_and_remove_from_cache()
    linker.table_management.delete_tables_created_by_splink_from_db()
    return con.execute(f"SELECT count(*) FROM {out_table}").fetchall()[0][0]
