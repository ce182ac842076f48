"""Salesforce duplicate rules on writes: the request header, and how a refusal reads in the journal."""

from __future__ import annotations

from typing import Any

from syncaudit.config import DuplicateRuleHeader

HEADER = "Sforce-Duplicate-Rule-Header"
CODE = "DUPLICATES_DETECTED"


def duplicate_rule_header(opts: DuplicateRuleHeader | None) -> dict[str, str]:
    """The header to send with every write ({} when the config asks for none)."""
    if opts is None:
        return {}
    flag = {True: "true", False: "false"}
    value = (
        f"allowSave={flag[opts.allow_save]}; includeRecordDetails={flag[opts.include_record_details]}; "
        f"runAsCurrentUser={flag[opts.run_as_current_user]}"
    )
    return {HEADER: value}


def error_detail(err: dict[str, Any]) -> str | None:
    """A per-record error's message; for DUPLICATES_DETECTED also the rule and the records it matched."""
    message = err.get("message")
    dup = err.get("duplicateResult")
    if (err.get("statusCode") or err.get("errorCode")) != CODE or not isinstance(dup, dict):
        return message
    matches = [
        str((rec.get("record") or {}).get("Id"))
        for m in dup.get("matchResults") or []
        for rec in (m.get("matchRecords") or [])
        if isinstance(rec, dict)
    ]
    rule = dup.get("duplicateRule")
    parts = [str(message or dup.get("errorMessage") or "duplicate detected")]
    if rule:
        parts.append(f"duplicate rule {rule}")
    if matches:
        parts.append(f"matches {', '.join(matches)}")
    return "; ".join(parts)
