"""Blocking keeps candidate pairs linear in the records on data shaped like a real org's."""

from __future__ import annotations

import duckdb

from syncaudit.audit.comparisons import Model
from syncaudit.audit.match_fields import Column
from syncaudit.audit.matching import _capped_blocks, input_sql


def _candidate_pairs(con: duckdb.DuckDBPyConnection, model: Model) -> int:
    """The pairs the audit's blocking rules give on the table ``people``, with the capped keys it adds."""
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    from syncaudit.audit.comparisons import blocking

    con.execute(
        f"CREATE TABLE model_in AS SELECT *, mf_email AS mf_email_own, mf_phone AS mf_phone_own "
        f"FROM ({input_sql(model, 'people', 'uid')})"
    )
    _capped_blocks(con, model, ["model_in"])  # the capped keys the audit adds to its inputs
    sdf = DuckDBAPI(connection=con).register("model_in")
    counts = count_comparisons_from_blocking_rules(
        sdf, blocking_rules=blocking(model), link_type="dedupe_only", unique_id_column_name="uid",
        record_sample_proportion=1.0,
    )  # fmt: skip
    return counts[-1]["cumulative_comparison_count"]


def test_a_shared_postal_code_and_city_do_not_make_every_pair_a_candidate() -> None:
    """Thousands of people share a postal code (and so its city): blocking on the two together would compare
    all their pairs. Candidates stay linear in the records."""
    n = 2000
    con = duckdb.connect()
    con.execute(
        f"""CREATE TABLE people AS SELECT 'p' || i AS uid, NULL::VARCHAR AS id_key, f AS mf_first_name,
            substr(md5('l' || (i % 401)), 1, 8) AS mf_last_name, 'p' || i || '@x.example' AS mf_email,
            CAST(i AS VARCHAR) AS mf_phone, 'berlin' AS mf_city, '10115' AS mf_postal_code,
            [f] AS mf_first_name_groups, f AS mf_first_name_key
        FROM (SELECT i, substr(md5('f' || (i % 37)), 1, 6) AS f FROM range({n}) t(i))"""
    )
    cols = [Column("first_name", "first_name"), Column("last_name", "last_name"), Column("email", "email"),
            Column("phone", "phone"), Column("city", "city"), Column("postal_code", "postal_code")]  # fmt: skip
    model = Model("people", cols)
    assert _candidate_pairs(con, model) < 10 * n


def test_a_common_surname_in_one_postal_code_is_no_block_of_its_own() -> None:
    """Ten times the people put ten times as many in each postal code: a last name with a postal code grows with
    the square of the density (100 million pairs of Contacts at ten million people a side). Held by more than
    NAME_BLOCK_MAX records it is capped like the full name; the people still meet through their own keys."""
    n = 3000
    con = duckdb.connect()
    con.execute(
        f"""CREATE TABLE people AS SELECT 'p' || i AS uid, NULL::VARCHAR AS id_key, NULL::VARCHAR AS mf_first_name,
            'surname' || (i % 5) AS mf_last_name, 'p' || i || '@x.example' AS mf_email, CAST(i AS VARCHAR) AS mf_phone,
            '10115' AS mf_postal_code, NULL::VARCHAR[] AS mf_first_name_groups, NULL::VARCHAR AS mf_first_name_key
        FROM range({n}) t(i)"""
    )
    cols = [Column("first_name", "first_name"), Column("last_name", "last_name"), Column("email", "email"),
            Column("phone", "phone"), Column("postal_code", "postal_code")]  # fmt: skip
    model = Model("people", cols)
    assert _candidate_pairs(con, model) < 10 * n
