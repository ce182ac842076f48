"""Splink's own charts for a reviewer, drawn offline.

The specs are Splink's (its waterfall, match weights and m/u parameter charts, vega-lite: the chart definition
files Splink ships, read from its installed package without importing it — the import costs more than half a
second on the review's first page), filled with the match weights the audit recorded in a review item's evidence. Splink's own display loads vega from a CDN; these
charts never do: in JupyterLab they are shown by JupyterLab's bundled vega renderer
(``application/vnd.vegalite.v5+json``), and everywhere else (exported HTML, papermill) as an SVG drawn by
vl-convert in this process. An item whose evidence has no weights has no chart (None), not an empty one.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VEGALITE_MIME = "application/vnd.vegalite.v5+json"


@functools.cache
def _splink_spec(name: str) -> dict[str, Any]:
    spec = importlib.util.find_spec("splink")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("splink is not installed (it is a pinned dependency: run make setup)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "internals" / "files" / "chart_defs"
    return json.loads((folder / name).read_text(encoding="utf-8"))


def chart_spec(name: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of Splink's chart definition ``name`` with ``values`` as its data."""
    spec = copy.deepcopy(_splink_spec(name))
    spec.setdefault("data", {})["values"] = values
    return spec


class OfflineChart:
    """A vega-lite spec that displays without loading anything from the network."""

    def __init__(self, spec: dict[str, Any], title: str) -> None:
        self.spec = spec
        self.title = title
        self._svg: str | None = None

    def to_svg(self) -> str:
        if self._svg is None:
            import vl_convert

            self._svg = vl_convert.vegalite_to_svg(self.spec)
        return self._svg

    def lab_bundle(self) -> dict[str, Any]:
        """JupyterLab's renderer only (no SVG): for live views, e.g. inside the review widget, where the first
        SVG would cost a second of vl-convert start-up and is never exported."""
        return {VEGALITE_MIME: self.spec, "text/plain": f"<{self.title}>"}

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {**self.lab_bundle(), "image/svg+xml": self.to_svg()}

    def __repr__(self) -> str:
        return f"<{self.title}>"


@dataclass
class _Level:
    """A comparison level, with the fields Splink's chart definitions read."""

    comparison_name: str
    label_for_charts: str
    comparison_vector_value: int
    comparison_sort_order: int
    log2_bayes_factor: float
    m_probability: float | None
    u_probability: float | None

    @property
    def bayes_factor(self) -> float:
        return 2.0**self.log2_bayes_factor

    def as_dict(self) -> dict[str, Any]:
        bf = self.bayes_factor
        return {
            "comparison_name": self.comparison_name,
            "label_for_charts": self.label_for_charts,
            "sql_condition": self.label_for_charts,
            "comparison_vector_value": self.comparison_vector_value,
            "comparison_sort_order": self.comparison_sort_order,
            "log2_bayes_factor": self.log2_bayes_factor,
            "bayes_factor": bf,
            "bayes_factor_description": _describe(bf),
            "m_probability": self.m_probability,
            "u_probability": self.u_probability,
            "m_probability_description": None,
            "u_probability_description": None,
            "iteration": 0,
        }


def _describe(bf: float) -> str:
    if bf >= 1:
        return f"{bf:,.2f} times more likely to be a match"
    return f"{(1 / bf if bf > 0 else math.inf):,.2f} times less likely to be a match"


def waterfall(item: Any) -> OfflineChart | None:
    """Splink's waterfall of one pair: the prior, then each field's match weight, then the final score."""
    rows = [e for e in item.evidence if e.get("weight") is not None]
    if not rows:
        return None
    prior = next((e["weight"] for e in rows if e["field"].lower() == "prior"), None)
    fields = [e for e in rows if e["field"].lower() != "prior"]
    records = [
        _bar("Prior", "Starting match weight (prior)" if prior is not None else "prior not recorded", prior or 0.0)
    ]
    for e in fields:
        records.append(_bar(e["field"], e.get("level") or "", e["weight"], e.get("left"), e.get("right"), e))
    total = (prior or 0.0) + sum(e["weight"] for e in fields)
    records.append(_bar("Final score", "Final score", total))
    for i, r in enumerate(records):
        r["bar_sort_order"], r["record_number"] = i, 0
    spec = chart_spec("match_weights_waterfall.json", records)
    spec["params"][0]["bind"]["max"] = len(records) - 1  # the record slider of Splink's chart: one pair here
    return OfflineChart(spec, f"Splink waterfall of review item {item.id}")


def _bar(column: str, label: str, weight: float, left: Any = "", right: Any = "", e: dict | None = None) -> dict:
    bf = 2.0 ** float(weight)
    return {
        "column_name": column,
        "label_for_charts": label,
        "sql_condition": label,
        "log2_bayes_factor": float(weight),
        "bayes_factor": bf,
        "comparison_vector_value": None,
        "m_probability": (e or {}).get("m_probability"),
        "u_probability": (e or {}).get("u_probability"),
        "bayes_factor_description": _describe(bf) if column not in ("Prior", "Final score") else None,
        "value_l": "" if left is None else str(left),
        "value_r": "" if right is None else str(right),
        "term_frequency_adjustment": None,
    }


def _levels(items: list[Any]) -> list[_Level]:
    """The distinct (field, level) weights across items' evidence, strongest evidence for first."""
    seen: dict[tuple[str, str], _Level] = {}
    for item in items:
        for e in item.evidence:
            if e.get("weight") is None or e["field"].lower() == "prior":
                continue
            key = (e["field"], e.get("level") or "")
            if key not in seen:
                seen[key] = _Level(
                    e["field"], key[1], 0, 0, e["weight"], e.get("m_probability"), e.get("u_probability")
                )
    by_field: dict[str, list[_Level]] = {}
    for lv in seen.values():
        by_field.setdefault(lv.comparison_name, []).append(lv)
    out = []
    for order, (_, levels) in enumerate(sorted(by_field.items())):
        levels.sort(key=lambda lv: -lv.log2_bayes_factor)
        for n, lv in enumerate(levels):
            lv.comparison_sort_order, lv.comparison_vector_value = order, len(levels) - n
            out.append(lv)
    return out


def match_weights(items: list[Any]) -> OfflineChart | None:
    """Splink's match weights chart of the comparison levels seen in these items' evidence."""
    levels = _levels(items)
    if not levels:
        return None
    spec = _static(chart_spec("match_weights_interactive_history.json", [lv.as_dict() for lv in levels]))
    top = math.ceil(max(abs(lv.log2_bayes_factor) for lv in levels)) or 1
    for panel in spec["vconcat"]:
        panel["encoding"]["x"]["scale"]["domain"] = [-top, top]
    return OfflineChart(spec, "Splink match weights")


def _static(spec: dict[str, Any]) -> dict[str, Any]:
    """Splink's "interactive history" charts without their training-iteration slider (one set of weights)."""
    spec.pop("params", None)
    spec.pop("transform", None)
    return spec


def m_u_parameters(items: list[Any]) -> OfflineChart | None:
    """Splink's m and u parameters chart, where the audit recorded m and u with the evidence."""
    levels = [lv for lv in _levels(items) if lv.m_probability is not None and lv.u_probability is not None]
    if not levels:
        return None
    spec = _static(chart_spec("m_u_parameters_interactive_history.json", [lv.as_dict() for lv in levels]))
    return OfflineChart(spec, "Splink m and u parameters")
