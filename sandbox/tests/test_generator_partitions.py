"""Org pairs written partition by partition (generator/partition.py): ids and keys never repeat across
partitions, the truth refers to records that exist, the output is the same for a seed, and the name spaces
do not run out at ten million people."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pytest

from crmsandbox.generator import generate, generate_partitions, phones, read_summary
from crmsandbox.generator.partition import Part, TakenKeys, partition_sizes, partitions
from crmsandbox.generator.pools import locale_pools
from crmsandbox.generator.world import _company_names

SIZE, PER = 3000, 1000


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("parts") / "pair", SIZE, 5, partition_people=PER)


def _csv(path: Path) -> str:
    return f"read_csv('{path}', header=true, all_varchar=true, nullstr='', sample_size=-1)"


def _json(path: Path) -> str:
    return f"read_json_objects('{path}', format='newline_delimited')"


def test_partition_sizes_add_up() -> None:
    assert partition_sizes(3000, 1000) == [1000, 1000, 1000]
    assert partition_sizes(3001, 1000) == [751, 750, 750, 750]
    assert partition_sizes(999, 1000) == [999]


def test_ids_are_unique_and_each_partition_has_its_own_pod(pair: Path) -> None:
    db = duckdb.connect()
    sf = pair / "salesforce"
    for obj in ("Account", "Contact", "Lead", "Task", "Case", "User"):
        n, distinct = db.execute(f"select count(*), count(distinct Id) from {_csv(sf / f'{obj}.csv')}").fetchone()
        assert n == distinct and n > 0, obj
    pods = db.execute(f"select distinct substr(Id, 4, 2) from {_csv(sf / 'Contact.csv')}").fetchall()
    assert len(pods) == 3
    for name in ("contacts", "companies", "conversations"):
        n, distinct = db.execute(
            f"select count(*), count(distinct json_extract_string(json, '$.id')) from {_json(pair / 'intercom' / f'{name}.jsonl')}"
        ).fetchone()
        assert n == distinct and n > 0, name


def test_keys_never_repeat_across_partitions(pair: Path) -> None:
    """Emails, phones, product user ids, AccountNumbers and domains may repeat only where a defect is planted,
    and a planted defect lives inside one partition: no key is found in two partitions (two pods)."""
    db = duckdb.connect()
    sf = pair / "salesforce"
    people = (
        f"select Id, Email, Phone, Product_User_Id__c as puid from {_csv(sf / 'Contact.csv')} "
        f"union all select Id, Email, Phone, null from {_csv(sf / 'Lead.csv')}"
    )
    email_key = (
        "regexp_replace(lower(split_part(Email, '@', 1)), '\\+.*$', '') || '@' || lower(split_part(Email, '@', 2))"
    )
    for key in (email_key, "regexp_replace(Phone, '[^0-9]', '', 'g')", "puid"):
        clash = db.execute(
            f"select k from (select {key} as k, substr(Id, 4, 2) as pod from ({people})) "
            "where k is not null and k <> '' group by k having count(distinct pod) > 1"
        ).fetchall()
        assert clash == [], (key, clash[:5])
    accounts = f"select Id, AccountNumber, Website from {_csv(sf / 'Account.csv')}"
    for key in ("AccountNumber", "regexp_replace(lower(Website), '^(https?://)?(www\\.)?', '')"):
        clash = db.execute(
            f"select k from (select {key} as k, substr(Id, 4, 2) as pod from ({accounts})) "
            "where k is not null group by k having count(distinct pod) > 1"
        ).fetchall()
        assert clash == [], (key, clash[:5])


def test_names_are_unique_across_partitions_while_the_pools_have_room(tmp_path: Path) -> None:
    """With uniform names (name_frequency off) a person's full name is unique in the whole pair unless a
    defect or a hard negative is planted on it, which happens inside one partition."""
    pair = generate(tmp_path / "uniform", SIZE, 5, {"name_frequency": 0}, partition_people=PER)
    db = duckdb.connect()
    sf = pair / "salesforce"
    people = (
        f"select Id, lower(FirstName) || ' ' || lower(LastName) as k from {_csv(sf / 'Contact.csv')} "
        f"union all select Id, lower(FirstName) || ' ' || lower(LastName) from {_csv(sf / 'Lead.csv')}"
    )
    clash = db.execute(
        f"select k from (select k, substr(Id, 4, 2) as pod from ({people})) group by k having count(distinct pod) > 1"
    ).fetchall()
    assert clash == []


def test_truth_refers_to_records_that_exist_and_adds_up(pair: Path) -> None:
    truth = orjson.loads((pair / "truth.json").read_bytes())
    db = duckdb.connect()
    sf, ic = pair / "salesforce", pair / "intercom"
    ids = {
        r[0]
        for obj in ("Account", "Contact", "Lead", "Task", "Case")
        for r in db.execute(f"select Id from {_csv(sf / f'{obj}.csv')}").fetchall()
    }
    for name in ("contacts", "companies", "conversations"):
        ids |= {
            r[0]
            for r in db.execute(
                f"select json_extract_string(json, '$.id') from {_json(ic / f'{name}.jsonl')}"
            ).fetchall()
        }
    findings = truth["findings"]
    assert len({f["id"] for f in findings}) == len(findings)
    missing = [r for f in findings for r in f["records"] if r not in ids]
    assert missing == []
    pods = {r[3:5] for f in findings for r in f["records"] if len(r) == 18}
    assert len(pods) == 3  # every partition planted its defects
    summary: dict[str, int] = {}
    for f in findings:
        if f["expected"]:
            summary[f["kind"]] = summary.get(f["kind"], 0) + 1
    assert truth["summary"] == dict(sorted(summary.items()))
    rows = db.execute(f"select count(distinct Id) from {_csv(sf / 'Contact.csv')}").fetchone()[0]
    assert truth["counts"]["salesforce"]["Contact"] == rows
    assert truth["generator"]["size"] == SIZE
    assert read_summary(pair / "truth.json") == {k: v for k, v in truth.items() if k != "findings"}


def test_same_seed_gives_the_same_bytes(pair: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", SIZE, 5, partition_people=PER)

    def digest(root: Path) -> dict[str, str]:
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digest(again) == digest(pair)


def test_partitions_are_yielded_one_at_a_time(tmp_path: Path) -> None:
    seen: list[Path] = []
    for folder in generate_partitions(tmp_path, 1200, 2, partition_people=500):
        assert (folder / "salesforce" / "Contact.csv").is_file()
        assert all(not p.exists() for p in seen)  # the previous one is gone
        seen.append(folder)
    assert len(seen) == 3 and not seen[-1].exists()
    truth = read_summary(tmp_path / "truth.json")
    assert truth["generator"]["size"] == 1200 and truth["summary"]


def test_a_small_pair_is_one_partition_like_generate(tmp_path: Path) -> None:
    ref = generate(tmp_path / "ref", 400, 3)
    folders = 0
    for folder in generate_partitions(tmp_path / "w", 400, 3):
        folders += 1
        for rel in ("salesforce/Contact.csv", "intercom/contacts.jsonl", "salesforce/Task.csv"):
            assert (folder / rel).read_bytes() == (ref / rel).read_bytes()
    assert folders == 1
    assert read_summary(tmp_path / "w" / "truth.json") == read_summary(ref / "truth.json")


def test_company_names_do_not_run_out_at_ten_million_people() -> None:
    """1.25 million companies (8 people each): the single-run name space ends near 250,000 ("company name
    space exhausted"); a partition also draws two-brand names and avoids the keys before it."""
    pools = locale_pools()
    rng = np.random.Generator(np.random.PCG64(1))
    taken = TakenKeys()
    part, _, _ = next(partitions(1, 10_000_000))
    part = Part(0, 20, 10_000_000, part.owners, part.user_ids, part.admin_ids, part.app_id, taken)
    loc = rng.integers(0, len(pools), size=400_000)
    names, domains = _company_names(rng, pools, 400_000, loc, part)
    keys = [d.split(".", 1)[0] for d in domains]
    assert len(set(keys)) == len(keys) == 400_000


def test_phone_space_grows_for_large_pairs_and_keeps_its_first_prefixes() -> None:
    small = phones.region_numbers("US", 40).prefixes[:40]
    big = phones.region_numbers("US", 720)
    assert len(big.prefixes) >= 720 and big.prefixes[:40] == small
    assert phones.prefixes_needed(2_400_000) == 120  # a single run is capped as before
    assert phones.prefixes_needed(2_400_000, cap=999) == 720
