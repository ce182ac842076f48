"""The writer contract, as the apply engine names it (defined in :mod:`syncaudit.writes`, below changes/ and
connectors/ alike)."""

from syncaudit.writes import WRITER_OUTCOMES, JobHook, Writer, WriteResult, same_value, version_key

__all__ = ["WRITER_OUTCOMES", "JobHook", "WriteResult", "Writer", "same_value", "version_key"]
