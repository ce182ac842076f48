"""Probabilistic record matching with Splink on the audit's DuckDB connection.

One model shape serves people (first/last name with nicknames and typos, email,
phone, company) and companies (name, domain, phone), within one system (dedupe)
or across the two (link). It is written to generalise, not to fit a generator:

- comparisons are Jaro-Winkler / exact levels with term-frequency adjustment on
  names (a shared rare surname is stronger evidence than a shared "smith");
- u probabilities are estimated from random pairs of the data at hand, the prior
  from a deterministic rule; m probabilities are fixed at documented, conservative
  values (how often true matches agree at each level), so no labelled data and no
  unstable EM run is needed;
- blocking on normalized email, phone digits, and name/company parts keeps the
  candidate pairs linear in the data size.
"""

from __future__ import annotations

import logging

import duckdb

logging.getLogger("splink").setLevel(logging.ERROR)

PEOPLE_COLUMNS = (
    "email_n",
    "email_local",
    "first_n",
    "first_canon",
    "last_n",
    "company_n",
    "phone_k",
    "left(first_n, 1) AS first_i",
    "left(last_n, 1) AS last_i",
)
COMPANY_COLUMNS = ("name_n", "domain", "phone_k")


def _prior(con: duckdb.DuckDBPyConnection, tables: list[str], sizes: list[int], key: str) -> float:
    """P(two random records match), from pairs sharing ``key`` assumed to be 60% of the true matches.

    Without any such pair (a pool left after the deterministic steps) assume a small share of records
    have a match: 20% of the smaller side for links, 2% for dedupe.
    """
    if len(tables) == 1:
        n = sizes[0]
        total = n * (n - 1) / 2
        det = con.execute(
            f"SELECT coalesce(sum(c * (c - 1) / 2), 0) FROM (SELECT count(*) c FROM {tables[0]} "
            f"WHERE {key} IS NOT NULL GROUP BY {key})"
        ).fetchall()[0][0]
        fallback = 0.02 * n
    else:
        total = sizes[0] * sizes[1]
        det = con.execute(f"SELECT count(*) FROM {tables[0]} a JOIN {tables[1]} b ON a.{key} = b.{key}").fetchall()[0][
            0
        ]
        fallback = 0.2 * min(sizes)
    expected = det / 0.6 if det else fallback
    return float(min(max(expected / max(total, 1), 1e-9), 0.5))


def _people_settings(link_type: str, prior: float):  # noqa: ANN202 - splink SettingsCreator
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    def lvl(level, m):  # noqa: ANN001, ANN202
        return level.configure(m_probability=m)

    email = cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email_n"),
            # The same person often has a second address (work/personal), so "different" stays plausible.
            lvl(cll.ExactMatchLevel("email_n"), 0.68),
            # No level for a similar or equal mailbox name at another domain: mailbox names are built from
            # the person's name ("rjorda", "susan"), so it would count the name evidence twice (naive Bayes
            # assumes independent comparisons) and join namesakes.
            lvl(cll.ElseLevel(), 0.32),
        ],
    )
    first = cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_n"),
            lvl(cll.ExactMatchLevel("first_n").configure(tf_adjustment_column="first_n"), 0.80),
            lvl(cll.ExactMatchLevel("first_canon"), 0.07),
            # First and last name swapped (a common data-entry error).
            lvl(cll.CustomLevel('"first_n_l" = "last_n_r" AND "last_n_l" = "first_n_r"', "first_n"), 0.02),
            lvl(cll.JaroWinklerLevel("first_n", 0.9), 0.07),
            lvl(cll.JaroWinklerLevel("first_n", 0.75), 0.03),
            lvl(cll.ElseLevel(), 0.03),
        ],
    )
    last = cl.CustomComparison(
        output_column_name="last_name",
        comparison_levels=[
            cll.NullLevel("last_n"),
            lvl(cll.ExactMatchLevel("last_n").configure(tf_adjustment_column="last_n"), 0.85),
            lvl(cll.CustomLevel('"first_n_l" = "last_n_r" AND "last_n_l" = "first_n_r"', "last_n"), 0.02),
            lvl(cll.JaroWinklerLevel("last_n", 0.9), 0.08),
            lvl(cll.JaroWinklerLevel("last_n", 0.75), 0.03),
            lvl(cll.ElseLevel(), 0.04),
        ],
    )
    company = cl.CustomComparison(
        output_column_name="company",
        comparison_levels=[
            cll.NullLevel("company_n"),
            # Term frequency: sharing a 5,000-person employer says less than sharing a 5-person one.
            lvl(cll.ExactMatchLevel("company_n").configure(tf_adjustment_column="company_n"), 0.75),
            lvl(cll.JaroWinklerLevel("company_n", 0.88), 0.1),
            lvl(cll.ElseLevel(), 0.15),
        ],
    )
    phone = cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phone_k"),
            # Two different numbers are real evidence against: duplicates are usually copies.
            lvl(cll.ExactMatchLevel("phone_k"), 0.88),
            lvl(cll.ElseLevel(), 0.12),
        ],
    )
    return SettingsCreator(
        link_type=link_type,
        probability_two_random_records_match=prior,
        unique_id_column_name="uid",
        comparisons=[email, first, last, company, phone],
        blocking_rules_to_generate_predictions=[
            block_on("email_n"),
            block_on("phone_k"),
            block_on("first_canon", "last_n"),
            # Typos and nicknames at one employer; the initial keeps a 100,000-person employer's blocks small.
            block_on("first_canon", "company_n", "last_i"),
            block_on("last_n", "company_n", "first_i"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def _company_settings(link_type: str, prior: float):  # noqa: ANN202
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    def lvl(level, m):  # noqa: ANN001, ANN202
        return level.configure(m_probability=m)

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_n"),
            lvl(cll.ExactMatchLevel("name_n").configure(tf_adjustment_column="name_n"), 0.7),
            lvl(cll.JaroWinklerLevel("name_n", 0.92), 0.15),
            lvl(cll.JaroWinklerLevel("name_n", 0.8), 0.08),
            lvl(cll.ElseLevel(), 0.07),
        ],
    )
    domain = cl.CustomComparison(
        output_column_name="domain",
        comparison_levels=[
            cll.NullLevel("domain"),
            lvl(cll.ExactMatchLevel("domain"), 0.8),
            lvl(cll.JaroWinklerLevel("domain", 0.9), 0.08),
            lvl(cll.ElseLevel(), 0.12),
        ],
    )
    phone = cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phone_k"),
            lvl(cll.ExactMatchLevel("phone_k"), 0.7),
            lvl(cll.ElseLevel(), 0.3),
        ],
    )
    return SettingsCreator(
        link_type=link_type,
        probability_two_random_records_match=prior,
        unique_id_column_name="uid",
        comparisons=[name, domain, phone],
        blocking_rules_to_generate_predictions=[block_on("name_n"), block_on("domain"), block_on("phone_k")],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def predict_pairs(
    con: duckdb.DuckDBPyConnection,
    tables: list[str],
    *,
    kind: str,
    threshold: float,
    out_table: str,
) -> int:
    """Score candidate pairs and write ``out_table(uid_l, uid_r, p)`` with p >= threshold.

    ``tables`` are names of tables on ``con`` with a ``uid`` column and the model's columns:
    one table = dedupe, two tables = link (left, right). Returns the number of pairs.
    """
    from splink import DuckDBAPI, Linker

    con.execute(f"CREATE OR REPLACE TABLE {out_table}(uid_l VARCHAR, uid_r VARCHAR, p DOUBLE)")
    sizes = [con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables]
    if min(sizes) == 0 or (len(tables) == 1 and sizes[0] < 2):
        return 0
    link_type = "dedupe_only" if len(tables) == 1 else "link_only"
    prior = _prior(con, tables, sizes, "email_n" if kind == "people" else "domain")
    settings = _people_settings(link_type, prior) if kind == "people" else _company_settings(link_type, prior)
    db_api = DuckDBAPI(connection=con)
    sdfs = [db_api.register(t, table_name=f"__sa_in_{i}_{t}") for i, t in enumerate(tables)]
    linker = Linker(sdfs if len(sdfs) > 1 else sdfs[0], settings, log_level=None)
    n = sum(sizes)
    linker.training.estimate_u_using_random_sampling(max_pairs=min(2e6, max(1e4, n * 5.0)), seed=1, num_chunks=1)
    pred = linker.inference.predict(threshold_match_probability=threshold)
    name = pred.physical_name
    con.execute(
        f"INSERT INTO {out_table} SELECT CAST(uid_l AS VARCHAR), CAST(uid_r AS VARCHAR), match_probability FROM {name}"
    )
    linker.table_management.delete_tables_created_by_splink_from_db()
    return con.execute(f"SELECT count(*) FROM {out_table}").fetchall()[0][0]
