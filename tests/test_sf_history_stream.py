"""The field-history stream of an org (or user) that cannot read a history object: an empty table and a note,
not a failed pull — the audit then says "newer side unknown" for that object's fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from syncaudit.config import Config
from syncaudit.connectors.salesforce.streams import SalesforceHistoryStream
from syncaudit.errors import FatalAPIError
from syncaudit.snapshot import TableWriter


class RefusingClient:
    def __init__(self, status: int) -> None:
        self.status = status

    def call(self, fn: Any, what: str) -> Any:
        raise FatalAPIError(f"Salesforce {what} failed", status=self.status, code="NOT_FOUND", system="salesforce")

    def describe_object(self, obj: str) -> Any:
        return self.call(None, f"describe {obj}")


def _cfg() -> Config:
    return Config.model_validate({"name": "t", "sandbox": {}, "data_dir": "unused"})


def test_an_unreadable_history_object_gives_an_empty_table(tmp_path: Path) -> None:
    stream = SalesforceHistoryStream(RefusingClient(404), _cfg(), "ContactHistory")
    out = stream.pull(lambda name, schema: TableWriter(tmp_path / f"{name}.parquet", schema), None, lambda n: None)
    assert out.records == 0 and "not readable" in out.extra["unavailable"]
    table = pq.read_table(tmp_path / "ContactHistory.parquet")
    assert table.num_rows == 0 and {"ContactId", "Field", "NewValue", "CreatedDate"} <= set(table.column_names)


def test_other_failures_still_stop_the_pull(tmp_path: Path) -> None:
    stream = SalesforceHistoryStream(RefusingClient(500), _cfg(), "ContactHistory")
    with pytest.raises(FatalAPIError):
        stream.pull(lambda name, schema: TableWriter(tmp_path / f"{name}.parquet", schema), None, lambda n: None)
