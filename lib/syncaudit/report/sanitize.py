"""What a stakeholder page must never show: tracebacks, stderr logs, Python reprs of machine paths.

An executed notebook keeps everything for the analyst (in the run's work folder). Before it becomes a
stakeholder page, its outputs are cleaned here: an error output becomes one plain sentence (the error's
type and message, machine paths removed) pointing at the run's log; stderr streams (progress bars, warnings,
the pull's log) are dropped; absolute paths of this machine in any text are cut to the file's name.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nbformat

RUN_LOG = "run.log"

# An absolute path under a usual root of this or another machine: /tmp/x/y, /home/u/p, /srv/..., C:\\Users\\...
# Preceded by nothing that makes it part of a URL, base64 data or a relative path.
_POSIX_PATH = re.compile(
    r"(?<![\w/+=.:-])/(?:tmp|work|home|root|usr|var|opt|etc|srv|mnt|media|Users|private|run|data|proc)"
    r"(?:/[^\s/'\"<>`),;:]+)+/?"
)
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\(?:[^\s\\'\"<>]+\\)*[^\s\\'\"<>]*")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_machine_paths(text: str) -> str:
    """``/home/ana/project/data/work/x.json`` -> ``x.json`` (and Windows paths alike)."""
    text = _POSIX_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], text)
    return _WINDOWS_PATH.sub(lambda m: m.group(0).rstrip("\\").rsplit("\\", 1)[-1], text)


def has_machine_path(text: str) -> list[str]:
    """The absolute machine paths found in ``text`` (empty when there is none)."""
    return [m.group(0) for m in _POSIX_PATH.finditer(text)] + [m.group(0) for m in _WINDOWS_PATH.finditer(text)]


def error_sentence(ename: str, evalue: str) -> str:
    """One line a stakeholder can read: the error's type and message, no path, no ANSI, bounded."""
    text = strip_machine_paths(_ANSI.sub("", f"{ename}: {evalue}")).strip()
    first = text.splitlines()[0] if text else ename
    return first[:300] + ("…" if len(first) > 300 else "")


def _failure_output(ename: str, evalue: str) -> Any:
    sentence = html.escape(error_sentence(ename, evalue))
    body = (
        "<div class='sa-failed' style='border:1px solid #cf222e;background:#ffebe9;border-radius:6px;"
        "padding:8px 14px;color:#1f2328'><strong>This step failed:</strong> "
        f"{sentence}<br><span style='color:#57606a'>The technical details are in the run's log "
        f"({RUN_LOG} in the run's work folder); the steps that depend on this one were skipped.</span></div>"
    )
    return nbformat.v4.new_output("display_data", data={"text/html": body, "text/plain": sentence})


_BLOCK = re.compile(r"(<script\b.*?</script>|<style\b.*?</style>)", re.DOTALL | re.IGNORECASE)


def strip_paths_in_html(page: str) -> str:
    """Machine paths removed from the text of an HTML fragment; scripts and styles are left as they are."""
    return "".join(part if i % 2 else strip_machine_paths(part) for i, part in enumerate(_BLOCK.split(page)))


def _clean_data(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for mime, value in data.items():
        if isinstance(value, list):
            value = "".join(str(v) for v in value)
        if isinstance(value, str) and mime == "text/html":
            value = strip_paths_in_html(value)
        elif isinstance(value, str) and mime.startswith("text/"):
            value = strip_machine_paths(value)
        out[mime] = value
    return out


def clean_for_stakeholders(nb: nbformat.NotebookNode) -> list[str]:
    """Clean ``nb``'s outputs in place; returns what was removed (for the run's log)."""
    removed: list[str] = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                removed.append(_ANSI.sub("", "\n".join(out.get("traceback") or [])))
                kept.append(_failure_output(str(out.get("ename", "Error")), str(out.get("evalue", ""))))
            elif kind == "stream" and out.get("name") == "stderr":
                removed.append(str(out.get("text", "")))
            elif kind == "stream":
                out["text"] = strip_machine_paths(_ANSI.sub("", str(out.get("text", ""))))
                kept.append(out)
            elif kind in {"display_data", "execute_result"}:
                out["data"] = _clean_data(dict(out.get("data", {})))
                kept.append(out)
            else:
                kept.append(out)
        cell["outputs"] = kept
    return removed
