"""What every stream returns to the pull runner, and the writer factory it is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

# (table name, schema) -> a syncaudit.snapshot.TableWriter
Writer = Callable[[str, pa.Schema], Any]


@dataclass
class PullOutcome:
    """Records written, the newest replication-key value seen, ids found gone, and stream facts."""

    records: int = 0
    bookmark: str | None = None
    removed: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
