"""syncaudit: audit and fix the drift between Salesforce and Intercom."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__"]


def __getattr__(name: str) -> Any:  # lazy: `from syncaudit import Workspace` loads the notebook API on first use
    if name == "Workspace":
        from syncaudit.explore.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'syncaudit' has no attribute {name!r}")
