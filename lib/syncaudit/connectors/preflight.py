"""Preflight (`syncaudit check`), also run at the start of every pull and apply: can this config work?

One row per check, ``ok`` or ``problem``: both systems' credentials and API versions, the Salesforce API
allocation left, the org's facts (production fails closed), and the integration user's access against the
mapping — objects and fields missing or not readable (field-level security hides a field from describe), fields
a fix-up would write that are not updateable (or createable), Intercom data attributes missing, archived or not
writable through the API, and the token's reach (``GET /me``).

:func:`preflight_rows` returns the rows (the audit report shows the same table); :func:`run_preflight` raises
:class:`PreflightFailed` — exit 3 when an API refused or could not be reached, 5 for a production org the
config mislabels, 4 when the allocation guard would stop the run, else 2 (config or mapping) — before any
stream is pulled or any write is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from syncaudit.config import Config
from syncaudit.connectors.build import Connectors, connect
from syncaudit.connectors.production import check_production
from syncaudit.errors import APIError, GuardError, SyncAuditError

OK, PROBLEM = "ok", "problem"
# Works, with less: the run goes on and the report says what it cannot tell (not an exit code).
NOTICE = "notice"
# The exit code a problem row stands for, most urgent first.
EXIT_PRIORITY = (3, 5, 4, 2)


@dataclass(frozen=True)
class PreflightRow:
    system: str  # salesforce | intercom
    check: str  # e.g. "credentials", "object Contact", "field Contact.Email"
    status: str  # ok | notice | problem
    detail: str
    fix: str = ""
    exit_code: int = 0  # for a problem: 2 config/mapping, 3 API refused/unreachable, 4 allocation, 5 safety

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PreflightFailed(SyncAuditError):
    """Preflight found problems; the message is the table of problem rows."""

    def __init__(self, rows: list[PreflightRow]) -> None:
        problems = [r for r in rows if r.status == PROBLEM]
        codes = {r.exit_code for r in problems}
        self.exit_code = next((c for c in EXIT_PRIORITY if c in codes), 2)
        self.rows = rows
        lines = [
            f"  {r.system:<10} {r.check:<40} {r.detail}" + (f"\n{'':<54}fix: {r.fix}" if r.fix else "")
            for r in problems
        ]
        super().__init__(
            f"preflight found {len(problems)} problem{'s' if len(problems) != 1 else ''}:\n" + "\n".join(lines),
            hint="fix the lines above, then run `syncaudit check --config ...` again",
        )


# ---------------------------------------------------------------- what the mapping needs


@dataclass
class SalesforceNeeds:
    """Per object: fields read, fields written by updates, fields set on create."""

    read: dict[str, set[str]]
    update: dict[str, set[str]]
    create: dict[str, set[str]]


def salesforce_needs(cfg: Config) -> SalesforceNeeds:
    """What the mapping reads and the enabled fixes write, per Salesforce object."""
    m = cfg.mapping
    read: dict[str, set[str]] = {p.salesforce: {"Id"} for p in m.objects}
    update: dict[str, set[str]] = {}
    create: dict[str, set[str]] = {}
    fixes = cfg.fixes
    for obj in ("Contact", "Lead"):
        key = m.identity.people.key_for(obj)  # per object; None: the object carries no identity key
        if obj in read and key:
            read[obj].add(key)
            if fixes.backfill_identity.enabled:
                update.setdefault(obj, set()).add(key)
    if "Account" in read:
        read["Account"].add(m.identity.companies.salesforce_key)
    for f in m.fields:
        for obj in f.objects:
            read.setdefault(obj, {"Id"}).add(f.salesforce)
            if f.owner == "intercom" and f.direction != "display_only" and fixes.push_owner_value.enabled:
                update.setdefault(obj, set()).add(f.salesforce)
        target = f.lookup.target("salesforce") if f.lookup else None
        if target:
            read.setdefault(target[0], {"Id"}).add(target[1])
    conv = m.conversations
    read.setdefault(conv.log_as, {"Id"}).update({conv.conversation_id_field, "WhoId"})
    if fixes.log_conversations.enabled:
        create.setdefault(conv.log_as, set()).update({conv.external_id_field, conv.conversation_id_field})
    for mig in fixes.migrations:
        if mig.target_system == "salesforce":
            for obj in mig.objects:
                update.setdefault(obj, set()).add(mig.target_field)
        else:
            for obj in mig.objects:
                read.setdefault(obj, {"Id"}).add(mig.source_field)
    return SalesforceNeeds(read, update, create)


def intercom_needs(cfg: Config) -> dict[tuple[str, str], bool]:
    """(model, custom attribute name) -> whether a fix-up writes it."""
    out: dict[tuple[str, str], bool] = {}
    for f in cfg.mapping.fields:
        if not f.intercom.startswith("custom_attributes."):
            continue
        model = "company" if "Account" in f.objects else "contact"
        written = f.owner == "salesforce" and f.direction != "display_only" and cfg.fixes.push_owner_value.enabled
        key = (model, f.intercom.split(".", 1)[1])
        out[key] = out.get(key, False) or written
    for mig in cfg.fixes.migrations:
        name, written = (mig.target_field, True) if mig.target_system == "intercom" else (mig.source_field, False)
        if name.startswith("custom_attributes."):
            key = ("contact", name.split(".", 1)[1])
            out[key] = out.get(key, False) or written
    return out


# ---------------------------------------------------------------- checks


def _api_problem(system: str, check: str, exc: APIError) -> PreflightRow:
    return PreflightRow(system, check, PROBLEM, exc.message, exc.hint or "", exit_code=exc.exit_code or 3)


def salesforce_rows(cfg: Config, conns: Connectors) -> list[PreflightRow]:
    sf = conns.salesforce
    rows: list[PreflightRow] = []
    SF = "salesforce"
    try:
        org = sf.org()  # logs in first: the credentials check
    except APIError as exc:
        return [_api_problem(SF, "credentials", exc)]
    rows.append(PreflightRow(SF, "credentials", OK, f"logged in ({sf.auth.creds.method}) to {sf.instance_url}"))
    kind = "sandbox" if org.is_sandbox else "production"
    try:
        check_production(cfg, org, writing=False)
        rows.append(PreflightRow(SF, "org", OK, f"{org.org_id} ({org.name}), a {kind} org"))
    except GuardError as exc:
        rows.append(PreflightRow(SF, "org", PROBLEM, exc.message, exc.hint or "", exit_code=5))
    try:
        offered = [str(v.get("version")) for v in sf.send("GET", "/services/data/").json()]
        if sf.api_version in offered:
            rows.append(PreflightRow(SF, "API version", OK, f"v{sf.api_version} (newest offered: v{offered[-1]})"))
        else:
            rows.append(
                PreflightRow(
                    SF,
                    "API version",
                    PROBLEM,
                    f"the org does not offer v{sf.api_version} (offered: v{offered[0]} .. v{offered[-1]})",
                    f"set salesforce.api_version to one the org offers, e.g. {offered[-1]}",
                    exit_code=2,
                )
            )
            return rows  # every further call would use the missing version
    except APIError as exc:
        rows.append(_api_problem(SF, "API version", exc))
    try:
        daily = sf.limits().get("DailyApiRequests") or {}
        cap, left = int(daily.get("Max") or 0), int(daily.get("Remaining") or 0)
        share = sf.quota_max_share
        detail = f"{left:,} of {cap:,} daily calls left (the guard stops at {share:.0%} used)"
        if cap and cap - left >= cap * share:
            rows.append(
                PreflightRow(
                    SF,
                    "API allocation",
                    PROBLEM,
                    detail,
                    "wait for the 24-hour allocation to recover, or raise pull/apply.quota_max_share",
                    exit_code=4,
                )
            )
            return rows  # describing objects would spend what is left
        rows.append(PreflightRow(SF, "API allocation", OK, detail))
    except APIError as exc:
        rows.append(_api_problem(SF, "API allocation", exc))
        return rows
    rows += salesforce_access_rows(cfg, conns)
    rows += salesforce_history_rows(cfg, conns)
    return rows


def salesforce_history_rows(cfg: Config, conns: Connectors) -> list[PreflightRow]:
    """Field history objects the pull reads (pull.field_history). One the user cannot read is no problem for
    the pull (it gets an empty table) but the drift audit then cannot date Salesforce's changes of that
    object's fields: a notice says so before the run, not a silent "newer side unknown" after it."""
    mapped = {p.salesforce for p in cfg.mapping.objects}
    rows: list[PreflightRow] = []
    for parent in cfg.pull.field_history:
        if parent not in mapped:
            continue
        obj = f"{parent}History"
        try:
            d = conns.salesforce.describe(obj)
        except APIError as exc:
            rows.append(_api_problem("salesforce", f"object {obj}", exc))
            continue
        if d is None or not d.get("queryable", True):
            rows.append(
                PreflightRow(
                    "salesforce",
                    f"object {obj}",
                    NOTICE,
                    f"{obj} is not readable: the drift audit cannot tell when Salesforce last changed a {parent} "
                    "field (its newer side is reported as unknown)",
                    f"turn on field history tracking for {parent} (Object Manager > {parent} > Fields & "
                    f"Relationships > Set History Tracking) and give the integration user Read on {parent}; "
                    f"or remove {parent} from pull.field_history",
                )
            )
        else:
            rows.append(PreflightRow("salesforce", f"object {obj}", OK, "readable (dates Salesforce's changes)"))
    return rows


def salesforce_access_rows(cfg: Config, conns: Connectors) -> list[PreflightRow]:
    """The integration user's access to what the mapping reads and the fix-ups write (describe)."""
    sf = conns.salesforce
    needs = salesforce_needs(cfg)
    rows: list[PreflightRow] = []
    SF = "salesforce"
    for obj in sorted(set(needs.read) | set(needs.update) | set(needs.create)):
        try:
            d = sf.describe(obj)
        except APIError as exc:
            rows.append(_api_problem(SF, f"object {obj}", exc))
            continue
        if d is None or not d.get("queryable", True):
            rows.append(
                PreflightRow(
                    SF,
                    f"object {obj}",
                    PROBLEM,
                    f"{obj} is missing or not readable by the integration user",
                    f"grant Read on {obj} (profile or permission set), or remove it from the mapping",
                    exit_code=2,
                )
            )
            continue
        fields = {f["name"]: f for f in d.get("fields") or []}
        missing = sorted(f for f in needs.read.get(obj, set()) | needs.update.get(obj, set()) if f not in fields)
        for name in missing:
            rows.append(
                PreflightRow(
                    SF,
                    f"field {obj}.{name}",
                    PROBLEM,
                    "missing from describe: the field does not exist or field-level security hides it",
                    f"create the field, or grant the integration user Read access to {obj}.{name} "
                    "(field-level security); or fix the mapping",
                    exit_code=2,
                )
            )
        for name in sorted(needs.update.get(obj, set()) & set(fields)):
            if not fields[name].get("updateable"):
                rows.append(
                    PreflightRow(
                        SF,
                        f"field {obj}.{name}",
                        PROBLEM,
                        "a fix-up writes it, but it is not updateable for the integration user",
                        f"grant Edit on {obj}.{name} (field-level security), or disable the fix that writes it",
                        exit_code=2,
                    )
                )
        for name in sorted(needs.create.get(obj, set()) & set(fields)):
            if not fields[name].get("createable"):
                rows.append(
                    PreflightRow(
                        SF,
                        f"field {obj}.{name}",
                        PROBLEM,
                        "a fix-up sets it on new records, but it is not createable for the integration user",
                        f"grant Edit on {obj}.{name} (field-level security), or disable fixes.log_conversations",
                        exit_code=2,
                    )
                )
        if not d.get("updateable", True) and needs.update.get(obj):
            rows.append(
                PreflightRow(
                    SF,
                    f"object {obj}",
                    PROBLEM,
                    f"fix-ups update {obj}, but the integration user cannot edit {obj} records",
                    f"grant Edit on {obj}, or disable the fixes that write it",
                    exit_code=2,
                )
            )
        if not any(r.check.startswith((f"field {obj}.", f"object {obj}")) for r in rows):
            n = len(needs.read.get(obj, set()) | needs.update.get(obj, set()) | needs.create.get(obj, set()))
            rows.append(PreflightRow(SF, f"object {obj}", OK, f"readable; {n} mapped fields accessible"))
    return rows


def intercom_rows(cfg: Config, conns: Connectors) -> list[PreflightRow]:
    ic = conns.intercom
    rows: list[PreflightRow] = []
    IC = "intercom"
    try:
        me = ic.me()
    except APIError as exc:
        if exc.status == 400 and "version" in (exc.code or exc.message).lower():
            return [
                PreflightRow(
                    IC,
                    "API version",
                    PROBLEM,
                    f"Intercom refused Intercom-Version {ic.version}: {exc.message}",
                    "set intercom.api_version to a version Intercom supports (2.11 .. 2.16)",
                    exit_code=2,
                )
            ]
        return [_api_problem(IC, "credentials", exc)]
    app = me.get("app") or {}
    who = me.get("email") or me.get("name") or me.get("id")
    where = app.get("name") or app.get("id_code") or "?"
    region = f", region {app.get('region')}" if app.get("region") else ""
    rows.append(
        PreflightRow(IC, "credentials", OK, f"token acts as admin {who} in workspace {where}{region} ({ic.host})")
    )
    rows.append(PreflightRow(IC, "API version", OK, f"Intercom-Version {ic.version}"))
    needs = intercom_needs(cfg)
    attrs: dict[tuple[str, str], dict[str, Any]] = {}
    for model in sorted({m for m, _ in needs} | {"contact"}):
        try:
            body = ic.request(
                "GET", "data_attributes", "data_attributes", params={"model": model, "include_archived": "true"}
            )
        except APIError as exc:
            rows.append(_api_problem(IC, f"data attributes ({model})", exc))
            continue
        for a in body.get("data") or []:
            attrs[(model, str(a.get("name")))] = a
    for (model, name), written in sorted(needs.items()):
        a = attrs.get((model, name))
        check = f"attribute {model}.{name}"
        if a is None:
            rows.append(
                PreflightRow(
                    IC,
                    check,
                    PROBLEM,
                    "missing: no such custom data attribute",
                    f"create the {model} attribute {name!r} in Intercom, or fix the mapping",
                    exit_code=2,
                )
            )
        elif a.get("archived"):
            rows.append(
                PreflightRow(
                    IC,
                    check,
                    PROBLEM,
                    "archived",
                    f"unarchive {name!r} in Intercom (Settings > Data > People data), or remove it from the mapping",
                    exit_code=2,
                )
            )
        elif written and a.get("api_writable") is False:
            rows.append(
                PreflightRow(
                    IC,
                    check,
                    PROBLEM,
                    "a fix-up writes it, but it is not writable through the API",
                    "make the attribute API-writable, or disable the fix that writes it",
                    exit_code=2,
                )
            )
        else:
            rows.append(
                PreflightRow(IC, check, OK, f"{a.get('data_type', '?')}{', written by fix-ups' if written else ''}")
            )
    return rows


def preflight_rows(cfg: Config, connectors: Connectors | None = None) -> list[PreflightRow]:
    """Every preflight check for ``cfg`` as rows (the report shows this table). Raises only for bad config
    (ConfigError / SecretError before any call); API problems become rows."""
    conns = connectors or connect(cfg)
    return salesforce_rows(cfg, conns) + intercom_rows(cfg, conns)


def problems(rows: Iterable[PreflightRow]) -> list[PreflightRow]:
    return [r for r in rows if r.status == PROBLEM]


def run_preflight(cfg: Config, connectors: Connectors | None = None) -> list[PreflightRow]:
    """The rows, or PreflightFailed (exit 2, 3, 4 or 5) when any check is a problem."""
    rows = preflight_rows(cfg, connectors)
    if problems(rows):
        raise PreflightFailed(rows)
    return rows


def format_rows(rows: Iterable[PreflightRow]) -> str:
    """The table `syncaudit check` prints."""
    out = []
    for r in rows:
        mark = {OK: "ok     ", NOTICE: "notice "}.get(r.status, "PROBLEM")
        out.append(f"{mark}  {r.system:<10} {r.check:<40} {r.detail}")
        if r.fix:
            out.append(f"{'':<9}{'':<10} {'':<40} fix: {r.fix}")
    return "\n".join(out)


def cli_check(args: Any) -> int:
    """`syncaudit check --config F`: print the table; exit 0, or 2/3/4/5 for the most urgent problem."""
    rows = preflight_rows(args.cfg)
    print(format_rows(rows))
    bad = problems(rows)
    if not bad:
        notices = sum(r.status == NOTICE for r in rows)
        print(f"all {len(rows)} checks passed, {notices} with a notice" if notices else f"all {len(rows)} checks ok")
        return 0
    err = PreflightFailed(rows)
    print(f"{len(bad)} problem(s) of {len(rows)} checks")
    return err.exit_code
