"""The connector permission review on the index: what the integration users may read and write.

The review comes from the connector preflight (``syncaudit check``) when this installation has it; the
report never invents rows. When it is not available the index says so in one labelled line.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from syncaudit.config import Config

# Where the preflight lives (the connector part owns it): rows of (system, check, status, detail, fix).
_CANDIDATES = (("syncaudit.connectors.preflight", "preflight_rows"),)

NOT_CHECKED = {
    "available": False,
    "rows": [],
    "note": "not checked in this run (it re-used an existing snapshot and made no API call; run `syncaudit check`)",
}


def permission_review(cfg: Config) -> dict[str, Any]:
    """``{"available": bool, "rows": [{check, system, status, detail}], "note": text}``."""
    for module, name in _CANDIDATES:
        try:
            func = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if func is None:
            continue
        try:
            result = func(cfg)
        except Exception as exc:  # noqa: BLE001 - the review is informative; its failure is shown, not raised
            return {"available": False, "rows": [], "note": f"the preflight check failed: {type(exc).__name__}"}
        return {"available": True, "rows": _rows(result), "note": f"from {module}.{name}"}
    return {
        "available": False,
        "rows": [],
        "note": "not available: this installation has no connector preflight (`syncaudit check`) yet",
    }


def _rows(result: Any) -> list[dict[str, Any]]:
    items = result if isinstance(result, list | tuple) else getattr(result, "rows", None) or result
    if isinstance(items, Mapping):
        items = items.get("checks") or items.get("rows") or []
    rows = []
    for item in items if isinstance(items, list | tuple) else []:
        d = dict(item) if isinstance(item, Mapping) else (item.as_dict() if hasattr(item, "as_dict") else vars(item))
        rows.append(
            {
                "check": str(d.get("check") or d.get("name") or d.get("what") or ""),
                "system": str(d.get("system") or ""),
                "status": str(d.get("status") or d.get("ok") or ""),
                "detail": " — fix: ".join(str(x) for x in (d.get("detail") or d.get("message"), d.get("fix")) if x),
            }
        )
    return rows
