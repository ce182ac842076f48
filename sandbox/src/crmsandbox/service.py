"""What an emulated API offers the shared sandbox server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# WSGI environ keys the server sets or reads.
ENV_RECORDS = "crmsandbox.records"  # set by the app: records read or written by this call
ENV_FAULTS = "crmsandbox.faults"  # set by the server: the FaultInjector, for per-record failures
ENV_SEQ = "crmsandbox.seq"  # set by the server: the request's sequence number


@runtime_checkable
class SandboxService(Protocol):
    name: str

    def wsgi_app(self) -> WSGIApplication: ...

    def reset(self) -> None: ...

    def dump(self) -> dict[str, Any]: ...

    def connection_facts(self, base_url: str) -> dict[str, Any]: ...
