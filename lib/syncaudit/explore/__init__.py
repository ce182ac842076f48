"""The analyst's notebook API: ``from syncaudit import Workspace`` (see :mod:`syncaudit.explore.workspace`)."""

from __future__ import annotations

from typing import Any

__all__ = ["ReviewWidget", "SnapshotView", "Workspace"]


def __getattr__(name: str) -> Any:  # lazy: importing syncaudit stays cheap
    if name == "ReviewWidget":
        from syncaudit.explore.review_ui import ReviewWidget

        return ReviewWidget
    if name in __all__:
        from syncaudit.explore import workspace

        return getattr(workspace, name)
    raise AttributeError(name)
