"""The synthetic org pair: a Salesforce + Intercom load folder with planted defects and their truth.

``generate(out_dir, size, seed, rates)`` writes the load folder of ARCHITECTURE.md (Salesforce
CSVs + schema.json, Intercom JSON in the API's shapes) and ``truth.json``. Size = people per
system. The same seed and size give byte-identical files. ``activity`` (conversations.DEFAULT_ACTIVITY) sets how
many conversations and logged calls each person has; its default draws what the generator always drew.

What truth.json means, so an audit can be scored against it
-----------------------------------------------------------
``findings`` lists one entry per finding the planted defects imply, in the vocabulary of
ARCHITECTURE.md: ``kind, system, object, records, field`` (+ ``id`` as docs/contracts.md computes
it, ``expected``, and ``variant``/extra facts). Records are Salesforce ids first, then Intercom ids.

* Identity. Users (Contact <-> Intercom ``role: user``) link by ``Product_User_Id__c`` =
  ``external_id``; Leads (Lead <-> Intercom ``role: lead``, which has no external_id) link by email,
  so both keys empty on a lead pair is normal. Converted Leads (IsConverted) are history, not in
  scope: they keep the email and key of their Contact, as Salesforce conversion leaves them.
* ``duplicate``: ``records`` is the whole cluster, original first. Variants: exact,
  case_whitespace, typo, nickname, transposed (Contact, Lead); lead_and_contact (object
  ``Lead/Contact``: [Contact, open Lead]); user_and_lead, two_leads (Intercom contact); same_number,
  no_number (Account). The added member of a duplicate carries no key and is not also listed as
  an orphan.
* ``ambiguous_link``: one key matches several records on the other side: an Intercom user whose
  external_id is on a Contact and an open Lead; an Intercom company whose company_id is on two
  Accounts; a Lead pair whose email (the lead identity) is on two records of one side.
* ``orphan``: one record, no counterpart. Accounts only in Salesforce (prospects) take their
  Contacts with them (no product id); companies only in Intercom take their users.
* ``identity_gap`` [Contact, contact]: same email, key missing on one side or different.
* ``stale_link`` [converted Lead, its Contact, Intercom user]: the key is only on the converted Lead.
* ``field_drift`` [sf, ic] with ``field`` = the mapping name of config/demo.yaml, ``newer``
  (the system with the newer change), ``changed_by`` (owner | non_owner) and ``within_lag``.
  A change by the owner less than the configured sync lag before ``as_of`` is in flight, not a
  defect: it is listed with ``expected: false`` and ``within_lag: true``, so an audit that reports
  it is wrong. Timestamps are relative to ``generator.as_of``; an audit run on the sandbox should
  take that as "now" (the sandbox clock).
  ``field: owner`` (rate ``owner_conflict``): the pair's owners differ — Salesforce ``OwnerId`` moved to
  another rep with an Intercom seat, or Intercom ``owner_id`` set to another admin (support agents
  included). Clean pairs agree by email (User.Email = admin email); a rep without an Intercom seat
  leaves ``owner_id`` empty, which is not drift (nothing the sync could write).
* ``schema_conflict`` [Intercom contacts holding the values], one entry per field and variant:
  picklist_value (plan_type outside the restricted picklist), too_long (partner_code > 20),
  unmapped_value (referral_source outside the picklist map). Each pair also has a field_drift
  (``cause: schema_conflict``): the sync could not write, so Salesforce kept the old value.
  With the rate ``schema_type_conflict: 1`` (off by default) Intercom declares ``seats`` as a
  string attribute (values "12") against Salesforce's number: one entry, ``variant: type``,
  ``records: []``; the values still agree numerically, so no drift follows from it.
* ``quality`` one record each side (the bad value is on both sides, so there is no drift):
  ``expectation`` valid_email | not_null | valid_phone | in_set (lifecycle_stage), plus Accounts
  and companies without industry.
* ``conversation_unlogged`` [conversation] and ``conversation_misfiled`` [Task or Case,
  conversation] (variants wrong_person, converted_lead, case_instead_of_task); ``counterpart``
  names the record it should be logged on.
* ``rule_violation`` [Account, conversation] or [Account, company], ``field`` = the rule's name of
  config/demo.yaml (churn_risk_case, customer_company_plan, plan_means_customer): records that should
  have been routed by a cross-system rule and were not; correctly routed look-alikes carry
  ``expected: false`` (plant_rules.py). Rate ``rule_violation: 0`` plants none and changes nothing.

* Hard negatives (plant_hard.py; ``expected: false``, ``hard_negative: true``): new, correctly linked
  people who look like an existing clean person: ``namesake_colleague`` (same name, same Account),
  ``namesake_elsewhere`` (same name, other company), ``lookalike_colleague`` (a first name one letter
  apart, same last name and Account), ``family_member`` (same last name, home phone and home address). Each
  has its own email, phone and product user id (and, but for the family member, its own address), and is
  listed as ``duplicate`` in each system and ``identity_gap`` across, [like, new]: an audit that reports
  one of them is wrong.

* Rate ``name_frequency`` (1 by default; 0 makes every full name unique): names are drawn by how common
  they are (Faker's census frequencies where a locale has them, else a Zipf-Mandelbrot law), so common names
  repeat and different people share a full name; the clean, linked users sharing one are listed like the
  hard negatives above, ``variant: natural_namesake``, each group as a chain of pairs (first with second,
  second with third: truth.json stays linear in the people); namesakes among Leads or touched people are
  not listed (an audit reporting them loses precision instead).

* Addresses (addresses.py): Contacts' Mailing* and Leads' address fields and the Intercom contact's
  location (city, region, country) come from the person's locale: cities of unequal size, each in one
  state or region with its own postal codes, streets of the locale; a copy of a person keeps the address.

Nothing else is a defect: names (only with ``name_frequency: 0``), emails (compared lower-case, without
+tags and Gmail dots), phones, keys, company names and domains are unique unless planted; colleagues never have
look-alike names (see world._separate_lookalikes); clean pairs agree on every mapped field after
the mapping's normalisers; phone formats differ between systems but every clean number is valid
(national format only for US numbers). Conversation, tag and admin ids are numeric strings and
contact/company ids 24-hex, as the wire contract (shared/reference/intercom-api.md) says.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from crmsandbox.errors import SandboxInputError
from crmsandbox.generator import history, intercom_out, salesforce_out
from crmsandbox.generator.conversations import (
    DEFAULT_ACTIVITY,
    build_conversations,
    check_activity,
    non_default_activity,
)
from crmsandbox.generator.layout import Layout, build_layout, resolve
from crmsandbox.generator.mapping import MappingInputs, mapping_from_file
from crmsandbox.generator.partition import PARTITION_PEOPLE, Part, partitions
from crmsandbox.generator.plant import DEFAULT_RATES, check_rates, plant
from crmsandbox.generator.plant_rules import plant_rules
from crmsandbox.generator.truth_stream import TruthWriter, append_load_folder, read_summary
from crmsandbox.generator.world import World, build_world

__all__ = [
    "DEFAULT_ACTIVITY",
    "DEFAULT_RATES",
    "check_activity",
    "PARTITION_PEOPLE",
    "cli_generate",
    "generate",
    "generate_partitions",
    "read_summary",
]

MIN_SIZE, MAX_SIZE = 1, 50_000_000
FORMAT_VERSION = 1


def finding_id(e: dict[str, Any]) -> str:
    """Stable id as docs/contracts.md defines it for findings."""
    body = "|".join([e["kind"], e["system"], e["object"], e["field"] or "", ",".join(sorted(e["records"]))])
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _check(size: Any, seed: Any) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not MIN_SIZE <= size <= MAX_SIZE:
        raise SandboxInputError(
            f"--size must be a whole number of people from {MIN_SIZE} to {MAX_SIZE:,}, got {size!r}",
            hint="e.g. --size 20000",
        )
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise SandboxInputError(f"--seed must be a non-negative whole number, got {seed!r}", hint="e.g. --seed 7")


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SandboxInputError(f"{out} exists and is not a folder", hint="pass a new folder for --out")
    if out.is_dir() and any(out.iterdir()) and not (out / "truth.json").is_file():
        raise SandboxInputError(
            f"{out} is not empty and was not written by `sandbox generate`", hint="pass a new or empty folder for --out"
        )


def _resolve_truth(lay: Layout, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        e = dict(e)
        e["records"] = [resolve(lay, r) for r in e["records"]]
        e = {"id": finding_id(e), **e}
        out.append(e)
    return out


def _write_org(
    tmp: Path,
    size: int,
    seed: int,
    rates: dict[str, float],
    mapping: MappingInputs,
    part: Part | None = None,
    activity: dict[str, float] | None = None,
) -> tuple[World, dict[str, dict[str, int]], list[dict[str, Any]]]:
    """Draw one org pair (or one partition of a larger one), write its load folder into ``tmp`` (which exists)
    and return the world, the counts per table and the truth's findings."""
    world = build_world(seed, size, rates["name_frequency"], part)
    plan = plant(world, rates, seed, mapping)
    lay = build_layout(world, plan, seed, part)
    conv = build_conversations(world, plan, lay, rates, seed, activity)
    rule_truth = plant_rules(world, plan, lay, conv, rates["rule_violation"], seed)
    sf, ic = tmp / "salesforce", tmp / "intercom"
    sf.mkdir()
    ic.mkdir()
    counts = {
        "salesforce": {
            "User": salesforce_out.write_users(sf, world, lay),
            "Account": salesforce_out.write_accounts(sf, world, plan, lay),
            "Contact": salesforce_out.write_contacts(sf, world, plan, lay),
            "Lead": salesforce_out.write_leads(sf, world, plan, lay),
        },
        "intercom": {
            "contacts": intercom_out.write_contacts(ic, world, plan, lay, seed),
            "companies": intercom_out.write_companies(ic, world, plan, lay),
            "conversations": intercom_out.write_conversations(ic, world, lay, conv),
        },
    }
    counts["salesforce"]["Task"], counts["salesforce"]["Case"] = salesforce_out.write_activities(sf, world, lay, conv)
    salesforce_out.write_schema(sf)
    # Field history last and in files of its own: the files above stay byte-identical per seed.
    history.write_history(sf, plan, lay)
    intercom_out.write_reference(ic, world, lay, plan.seats_as_string)
    findings = _resolve_truth(lay, plan.truth + conv.truth + rule_truth)
    return world, counts, findings


def _truth_header(
    world: World, seed: int, size: int, rates: dict[str, float], mapping: MappingInputs, activity: dict[str, float]
) -> dict[str, Any]:
    # the activity volume is recorded only when it differs from the default (default output stays as it was)
    more = {"activity": non_default_activity(activity)} if non_default_activity(activity) else {}
    return {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "size": size,
        "rates": rates,
        "as_of": datetime.fromtimestamp(world.as_of, UTC).isoformat().replace("+00:00", "Z"),
        "as_of_unix": world.as_of,
        "intercom_app_id": world.app_id,
        "sync_lag_s": dict(mapping.sync_lag_s),
        "mapping": mapping.describe(),
        **more,
    }


def generate(
    out_dir: str | Path,
    size: int,
    seed: int,
    rates: dict[str, float] | None = None,
    mapping: MappingInputs | None = None,
    partition_people: int = PARTITION_PEOPLE,
    activity: dict[str, float] | None = None,
) -> Path:
    """Write the load folder + truth.json into `out_dir` (replaced atomically) and return its path.

    ``mapping``: the mapped fields and sync lags to plant drift against (default: the demo mapping).
    Above ``partition_people`` people the pair is written partition by partition (partition.py): the
    memory stays that of one partition. ``activity``: conversations and logged calls per person
    (``conversations_per_person``, ``calls_per_person``; default DEFAULT_ACTIVITY).
    """
    _check(size, seed)
    mapping = mapping or MappingInputs()
    asked, rates = rates, check_rates(rates)
    activity = check_activity(activity)
    out = Path(out_dir)
    _prepare_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        if size > partition_people:
            _generate_partitioned(tmp, size, seed, asked, mapping, partition_people, activity)
        else:
            world, counts, findings = _write_org(tmp, size, seed, rates, mapping, None, activity)
            truth = {
                "generator": _truth_header(world, seed, size, rates, mapping, activity),
                "counts": counts,
                "summary": dict(sorted(Counter(f["kind"] for f in findings if f["expected"]).items())),
                "findings": findings,
            }
            (tmp / "truth.json").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def generate_partitions(
    work: Path,
    size: int,
    seed: int,
    rates: dict[str, float] | None = None,
    mapping: MappingInputs | None = None,
    partition_people: int = PARTITION_PEOPLE,
    activity: dict[str, float] | None = None,
) -> Iterator[Path]:
    """Write the org pair partition by partition: yields each partition's load folder (``work/part-NNNN``,
    removed when the caller asks for the next), then writes ``work/truth.json`` for the whole pair.

    A caller that converts each partition as it comes (``syncaudit snapshot generate``) never holds more than
    one partition on disk or in memory. One partition when ``size`` is at most ``partition_people`` (the
    same org pair as ``generate`` writes)."""
    _check(size, seed)
    mapping = mapping or MappingInputs()
    rates = check_rates(rates)
    activity = check_activity(activity)
    truth = TruthWriter(work / "truth.json")
    try:
        plan = [(None, size, seed)] if size <= partition_people else partitions(seed, size, partition_people)
        for part, n, part_seed in plan:
            folder = work / f"part-{0 if part is None else part.index:04d}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            world, counts, findings = _write_org(folder, n, part_seed, rates, mapping, part, activity)
            if part is not None:
                part.taken.absorb(world)
                # a whole-pair entry (no records, e.g. a schema conflict) is listed once
                findings = [f for f in findings if f["records"] or part.index == 0]
            truth.add(counts, findings)
            header = _truth_header(world, seed, size, rates, mapping, activity)
            del world, findings
            yield folder
            shutil.rmtree(folder, ignore_errors=True)
        truth.finish(header)
    finally:
        truth.discard()


def _generate_partitioned(
    tmp: Path,
    size: int,
    seed: int,
    rates: dict[str, float] | None,
    mapping: MappingInputs,
    per: int,
    activity: dict[str, float] | None = None,
) -> None:
    """The load folder of a pair larger than one partition: each partition's files appended to the output."""
    work = tmp / ".partitions"
    first = True
    for folder in generate_partitions(work, size, seed, rates, mapping, per, activity):
        append_load_folder(folder, tmp, first)
        first = False
    (work / "truth.json").rename(tmp / "truth.json")
    shutil.rmtree(work)


def cli_generate(args: argparse.Namespace) -> int:
    """`syncaudit sandbox generate --size N --seed S --out DIR [--conversations-per-person M --calls-per-person C]`."""
    mapping = mapping_from_file(args.mapping) if getattr(args, "mapping", None) else None
    activity = {k: getattr(args, k) for k in DEFAULT_ACTIVITY if getattr(args, k, None) is not None}
    out = generate(args.out, args.size, args.seed, mapping=mapping, activity=activity)
    truth = read_summary(out / "truth.json")
    summary = ", ".join(f"{k} {v}" for k, v in truth["summary"].items())
    print(f"wrote {out} ({args.size} people per system, seed {args.seed}); planted: {summary}", file=sys.stdout)
    return 0
