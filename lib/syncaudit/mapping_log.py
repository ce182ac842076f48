"""The mapping change log: what each run's mapping and rules were, what changed since the previous run, and
which findings appeared or disappeared because of a change rather than because of the data.

Every audit stores :func:`mapping_spec` in its ``metrics.json`` (``mapping_spec``). :func:`diff_specs` compares two
of them field by field and rule by rule; :func:`attribute_findings` splits the findings that appeared or
disappeared between two runs into those explained by a change (a finding of a field that was added, removed,
or whose direction, owner, normalizers, names or lookup changed; of a rule that was added, removed or changed;
every finding when the identity keys or object pairs changed) and the rest (the data moved).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from syncaudit.config import Config

# Finding kinds whose `field` names a mapping field; rule_violation's `field` names its rule.
FIELD_KINDS = ("field_drift", "schema_conflict", "quality")
_FIELD_ASPECTS = ("salesforce", "intercom", "objects", "direction", "owner", "normalize", "lookup")


def mapping_spec(cfg: Config) -> dict[str, Any]:
    """The part of the config that decides what the audit finds, as plain JSON."""
    m = cfg.mapping.model_dump(mode="json")
    return {
        "identity": m["identity"],
        "objects": m["objects"],
        "conversations": m["conversations"],
        "fields": m["fields"],
        "rules": [r.model_dump(mode="json") for r in cfg.rules],
    }


def _by_name(items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(i.get("name")): i for i in items or []}


def diff_specs(prev: Mapping[str, Any] | None, cur: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per change: ``{scope: field|rule|identity|objects|conversations, name, change, before, after}``.

    ``change`` is ``added``, ``removed`` or the changed aspect (``direction``, ``owner``, ``normalize``, ...; for
    rules ``when``, ``expect``, ``fix``, ``severity``). An empty list when ``prev`` is None (no earlier run).
    """
    if not prev:
        return []
    out: list[dict[str, Any]] = []
    for scope in ("identity", "objects", "conversations"):
        if prev.get(scope) is not None and prev.get(scope) != cur.get(scope):
            out.append(
                {"scope": scope, "name": scope, "change": "changed", "before": prev.get(scope), "after": cur.get(scope)}
            )
    for scope, key, aspects in (
        ("field", "fields", _FIELD_ASPECTS),
        ("rule", "rules", ("when", "expect", "fix", "severity", "description")),
    ):
        before, after = _by_name(prev.get(key, [])), _by_name(cur.get(key, []))
        for name in sorted(set(before) | set(after)):
            if name not in before:
                out.append({"scope": scope, "name": name, "change": "added", "before": None, "after": after[name]})
            elif name not in after:
                out.append({"scope": scope, "name": name, "change": "removed", "before": before[name], "after": None})
            else:
                for aspect in aspects:
                    if before[name].get(aspect) != after[name].get(aspect):
                        out.append(
                            {
                                "scope": scope,
                                "name": name,
                                "change": aspect,
                                "before": before[name].get(aspect),
                                "after": after[name].get(aspect),
                            }
                        )
    return out


def _explains(change: Mapping[str, Any], finding: Mapping[str, Any]) -> bool:
    scope, kind, fld = change["scope"], finding.get("kind"), finding.get("field")
    if scope in ("identity", "objects"):
        return True  # links move, and every cross-system finding with them
    if scope == "conversations":
        return str(kind).startswith("conversation_")
    if scope == "field":
        return kind in FIELD_KINDS and fld == change["name"]
    return kind == "rule_violation" and fld == change["name"]


def describe_change(change: Mapping[str, Any]) -> str:
    what = f"{change['scope']} {change['name']}"
    if change["change"] in ("added", "removed"):
        return f"{what} {change['change']}"
    if change["scope"] in ("identity", "objects", "conversations"):
        return f"{change['scope']} settings changed"
    return f"{what}: {change['change']} {_short(change['before'])} -> {_short(change['after'])}"


def _short(v: Any) -> str:
    text = v if isinstance(v, str) else repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def attribute_findings(
    changes: list[dict[str, Any]],
    prev_findings: Iterable[Mapping[str, Any]],
    cur_findings: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    """Appeared/disappeared findings (by id), each credited to the first change that explains it, else to the data.

    Returns ``{"by_change": [{change, text, appeared, disappeared, examples}], "data": {appeared, disappeared}}``.
    """
    prev = {str(f.get("id")): f for f in prev_findings}
    cur = {str(f.get("id")): f for f in cur_findings}
    rows = [{"change": c, "text": describe_change(c), "appeared": 0, "disappeared": 0, "examples": []} for c in changes]
    data = {"appeared": 0, "disappeared": 0}
    for direction, ids, source in (
        ("appeared", set(cur) - set(prev), cur),
        ("disappeared", set(prev) - set(cur), prev),
    ):
        for fid in sorted(ids):
            f = source[fid]
            row = next((r for r in rows if _explains(r["change"], f)), None)
            if row is None:
                data[direction] += 1
                continue
            row[direction] += 1
            if len(row["examples"]) < 5:
                row["examples"].append({"id": fid, "kind": f.get("kind"), "direction": direction})
    return {"by_change": rows, "data": data}
