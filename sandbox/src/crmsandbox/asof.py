"""The sandbox's *as-of* moment: serve a load folder as if it had been taken just now.

A generated org pair is "as of" a fixed moment (``truth.json`` → ``generator.as_of``): the planted drift that
is still within the sync lag is in flight *at that moment*. Served weeks later unchanged, nothing is in
flight any more. ``--as-of now`` shifts every timestamp of the folder by the same amount, so that its as-of
moment becomes the moment the sandbox starts; ``--as-of original`` keeps them; ``--as-of <ISO datetime>``
moves it to that moment.

The shift writes a copy of the load folder (the original is never changed):

- Salesforce CSVs: the cells of datetime fields (the schema's ``datetime`` type, standard and custom), and of
  date fields (Birthdate, CloseDate, ActivityDate, custom date fields) moved by whole days;
- Intercom JSON: every integer under a key that names a moment (``*_at``, ``waiting_since``,
  ``snoozed_until``) at any depth, and custom attributes that data_attributes.json declares ``date``;
- truth.json: ``generator.as_of`` / ``as_of_unix`` moved, ``generator.shifted_by_s`` recorded.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from crmsandbox.errors import SandboxInputError

_ISO_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MOMENT_KEYS = ("waiting_since", "snoozed_until")
DAY = 86_400


def folder_as_of(load_dir: Path) -> int | None:
    """The load folder's as-of moment (epoch seconds) from its truth.json, or None when it has none."""
    truth = load_dir / "truth.json"
    if not truth.is_file():
        return None
    gen = json.loads(truth.read_text(encoding="utf-8")).get("generator") or {}
    value = gen.get("as_of_unix")
    return int(value) if isinstance(value, (int, float)) else None


def folder_shift(load_dir: Path) -> int | None:
    """How far a shifted copy was moved (``generator.shifted_by_s``), or None for an original folder."""
    truth = load_dir / "truth.json"
    if not truth.is_file():
        return None
    value = (json.loads(truth.read_text(encoding="utf-8")).get("generator") or {}).get("shifted_by_s")
    return int(value) if isinstance(value, int) else None


def shift_for(spec: str, load_dir: Path | None, started: float) -> int:
    """Seconds to add to every timestamp for ``--as-of spec`` (``now``, ``original`` or an ISO datetime).

    ``auto`` (serve's default) is ``now`` for a folder that knows its as-of moment and ``original`` otherwise
    (a hand-written load folder has no truth.json).
    """
    if spec == "original" or load_dir is None:
        return 0
    as_of = folder_as_of(load_dir)
    if spec == "auto":
        if as_of is None:
            return 0
        spec = "now"
    if as_of is None:
        raise SandboxInputError(
            f"{load_dir} has no truth.json with generator.as_of, so --as-of {spec} cannot know what to move",
            key="--as-of",
            hint="pass --as-of original to serve it unchanged, or serve a folder written by `generate`",
        )
    if spec == "now":
        return int(started) - as_of
    try:
        target = datetime.fromisoformat(spec.replace("Z", "+00:00"))
    except ValueError:
        raise SandboxInputError(
            f"--as-of {spec!r} is not now, original or an ISO datetime", key="--as-of", hint="e.g. --as-of now"
        ) from None
    if target.tzinfo is None:
        target = target.replace(tzinfo=UTC)
    return int(target.timestamp()) - as_of


def _fmt_dt(text: str, shift: int) -> str:
    t = datetime.fromisoformat(text.replace("Z", "+00:00")) + timedelta(seconds=shift)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _typed_fields(load_dir: Path, ftype: str) -> dict[str, set[str]]:
    """Per Salesforce object, the names of its fields of type ``ftype`` (date, datetime), standard and custom."""
    from crmsandbox.salesforce.schema import build_schema

    schema_json = load_dir / "salesforce" / "schema.json"
    objs = build_schema(schema_json if schema_json.is_file() else None)
    return {name: {f.name for f in o.field_list() if f.type == ftype} for name, o in objs.items()}


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _csv_line(row: list[str]) -> str:
    """One row as the generator writes it: text quoted, numbers bare, empty (null) bare."""
    return ",".join(c if c == "" or _NUMBER.match(c) else '"' + c.replace('"', '""') + '"' for c in row) + "\n"


def _shift_csv(src: Path, dst: Path, shift: int, date_cols: set[str], datetime_cols: set[str]) -> None:
    days = round(shift / DAY)
    with src.open(newline="", encoding="utf-8") as fin, dst.open("w", newline="", encoding="utf-8") as fout:
        reader = csv.reader(fin)
        header = next(reader, None)
        if header is None:
            return
        fout.write(_csv_line(header))
        dates = [i for i, name in enumerate(header) if name in date_cols]
        stamps = [i for i, name in enumerate(header) if name in datetime_cols]
        for row in reader:
            for i in stamps:
                if i < len(row) and _ISO_DT.match(row[i]):
                    row[i] = _fmt_dt(row[i], shift)
            for i in dates:
                if i < len(row) and _ISO_DATE.match(row[i]):
                    row[i] = (datetime.fromisoformat(row[i]) + timedelta(days=days)).date().isoformat()
            fout.write(_csv_line(row))


def _is_moment_key(key: str) -> bool:
    return key.endswith("_at") or key in _MOMENT_KEYS


def _shift_json(value: object, shift: int, date_attrs: set[str]) -> object:
    """Move every moment in a JSON document, in place (walks containers only: this runs per record)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if type(v) is int:
                if v > 0 and (k.endswith("_at") or k in _MOMENT_KEYS):
                    value[k] = v + shift
            elif k == "custom_attributes" and isinstance(v, dict):
                for ck, cv in v.items():
                    if ck in date_attrs and type(cv) is int:
                        v[ck] = cv + shift
            elif isinstance(v, (dict, list)):
                _shift_json(v, shift, date_attrs)
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, (dict, list)):
                _shift_json(v, shift, date_attrs)
    return value


def _date_attributes(ic_dir: Path) -> set[str]:
    path = ic_dir / "data_attributes.json"
    if not path.is_file():
        return set()
    doc = json.loads(path.read_text(encoding="utf-8"))
    items = doc.get("data", []) if isinstance(doc, dict) else doc
    return {a["name"] for a in items if isinstance(a, dict) and a.get("custom") and a.get("data_type") == "date"}


def shifted_load_folder(load_dir: Path, shift: int, out: Path) -> Path:
    """A copy of ``load_dir`` at ``out`` with every timestamp moved by ``shift`` seconds."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    sf_src = load_dir / "salesforce"
    if sf_src.is_dir():
        (tmp / "salesforce").mkdir()
        dates, stamps = _typed_fields(load_dir, "date"), _typed_fields(load_dir, "datetime")
        for path in sf_src.iterdir():
            target = tmp / "salesforce" / path.name
            if path.suffix.lower() == ".csv":
                obj = next((n for n in stamps if n.lower() == path.stem.lower()), path.stem)
                _shift_csv(path, target, shift, dates.get(obj, set()), stamps.get(obj, set()))
            else:
                shutil.copyfile(path, target)
    ic_src = load_dir / "intercom"
    if ic_src.is_dir():
        (tmp / "intercom").mkdir()
        date_attrs = _date_attributes(ic_src)
        for path in ic_src.iterdir():
            target = tmp / "intercom" / path.name
            if path.suffix == ".jsonl":
                with path.open("rb") as fin, target.open("wb") as fout:
                    for line in fin:
                        if line.strip():
                            fout.write(orjson.dumps(_shift_json(orjson.loads(line), shift, date_attrs)) + b"\n")
            elif path.suffix == ".json":
                doc = _shift_json(json.loads(path.read_text(encoding="utf-8")), shift, date_attrs)
                target.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            else:
                shutil.copyfile(path, target)
    truth = load_dir / "truth.json"
    if truth.is_file():
        doc = json.loads(truth.read_text(encoding="utf-8"))
        gen = doc.setdefault("generator", {})
        if isinstance(gen.get("as_of_unix"), (int, float)):
            gen["as_of_unix"] = int(gen["as_of_unix"]) + shift
            gen["as_of"] = datetime.fromtimestamp(gen["as_of_unix"], UTC).isoformat().replace("+00:00", "Z")
        gen["shifted_by_s"] = shift
        (tmp / "truth.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
