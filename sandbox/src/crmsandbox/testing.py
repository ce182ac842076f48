"""Start the sandbox in-process for tests and benchmarks.

    with running_sandbox(size=300, seed=1) as sb:
        session = requests.Session(); session.verify = sb["ca_cert"]
        session.get(sb["salesforce"]["instance_url"] + "/services/data")
        sb.control("POST", "faults", {"profile": "flaky", "seed": 3})
        calls = sb.requests(system="salesforce")

Ports are chosen by the OS (port 0). Generated load folders are cached per (size, seed) for the process.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from crmsandbox.costmodel import cost_model as named_cost
from crmsandbox.http import ca_session
from crmsandbox.server import Sandbox, SandboxClock, build_sandbox, write_facts
from crmsandbox.service import SandboxService

_cache_lock = threading.Lock()
_generated: dict[tuple[int, int], Path] = {}


def generated_load_dir(size: int, seed: int) -> Path:
    """A load folder from the generator, made once per process for each (size, seed)."""
    with _cache_lock:
        path = _generated.get((size, seed))
        if path is None or not (path / "truth.json").exists():
            from crmsandbox.generator import generate

            path = Path(tempfile.mkdtemp(prefix=f"syncaudit-load-{size}-{seed}-"))
            generate(path, size=size, seed=seed)
            _generated[(size, seed)] = path
        return path


class RunningSandbox(dict):
    """The connection facts (the content of sandbox.json), plus handles for tests."""

    sandbox: Sandbox

    def _session(self) -> requests.Session:
        s = getattr(self, "_http", None)
        if s is None:
            s = ca_session(self["ca_cert"])
            self._http = s
        return s

    def control(self, method: str, action: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        url = f"{self['control']['salesforce' if 'salesforce' in self['control'] else next(iter(self['control']))]}/{action}"
        r = self._session().request(method, url, json=body, params=params or None, timeout=60)
        r.raise_for_status()
        return r.json()

    def requests(self, system: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"since": since}
        if system:
            params["system"] = system
        return self.control("GET", "requests", **params)["requests"]

    def reset(self) -> None:
        self.control("POST", "reset")


@contextlib.contextmanager
def running_sandbox(
    *,
    load_dir: Path | str | None = None,
    size: int | None = None,
    seed: int = 7,
    faults: str = "none",
    fault_seed: int = 0,
    latency_ms: float = 0.0,
    state_dir: Path | None = None,
    services: dict[str, SandboxService] | None = None,
    as_of: str = "original",
    cost_model: str = "none",
) -> Iterator[RunningSandbox]:
    """Serve the sandbox on free loopback ports for the duration of the block."""
    own_dir = state_dir is None
    sd = Path(tempfile.mkdtemp(prefix="syncaudit-sandbox-")) if own_dir else Path(state_dir)
    try:
        if services is not None:
            sandbox = Sandbox(services, sd, clock=SandboxClock(), latency_ms=latency_ms, cost=named_cost(cost_model))
        else:
            load = str(load_dir) if load_dir is not None else None
            if load is None and size is not None:
                load = str(generated_load_dir(size, seed))
            sandbox = build_sandbox(
                sd,
                load=load,
                seed=seed,
                faults=faults,
                fault_seed=fault_seed,
                latency_ms=latency_ms,
                as_of=as_of,
                cost=cost_model,
            )
        facts = sandbox.start()
        try:
            write_facts(sd, facts)
            handle = RunningSandbox(facts)
            handle.sandbox = sandbox
            yield handle
        finally:
            sandbox.stop()
    finally:
        if own_dir:
            shutil.rmtree(sd, ignore_errors=True)
