"""The sandbox server: both emulators over HTTPS, with faults, latency, a request log and a control API.

Each emulator (a :class:`~crmsandbox.service.SandboxService`) is a WSGI app. This module serves each
on its own loopback port with cheroot (a threaded HTTP/1.1 server with keep-alive and TLS), wrapping it with
the shared middleware:

- fault injection (:mod:`crmsandbox.faults`), reproducible from a seed;
- latency, added to every API call (e.g. 50 ms to model a real network);
- the request log: method, path, status, records touched, fault, duration — what tests and benchmarks
  read to count calls and to prove nothing was written twice;
- the control API under ``/__sandbox__/`` on both ports (never faulted, never logged).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi as cheroot_wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from werkzeug.wrappers import Request, Response

from crmsandbox.costmodel import CostModel, cost_model
from crmsandbox.errors import SandboxInputError
from crmsandbox.faults import FaultInjector, error_response, profile
from crmsandbox.service import ENV_FAULTS, ENV_RECORDS, ENV_SEQ, SandboxService
from crmsandbox.tls import ensure_tls

CONTROL_PREFIX = "/__sandbox__"
ENV_CONN = "crmsandbox.conn"

log = logging.getLogger("crmsandbox.server")


def unexpected_error_response(system: str, seq: int) -> tuple[int, list[tuple[str, str]], bytes]:
    """A 500 in the real API's own error shape, for an exception that escaped an emulator (a sandbox bug)."""
    if system == "salesforce":
        body: Any = [
            {"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred. See the sandbox log."}
        ]
        return 500, [("Content-Type", "application/json;charset=UTF-8")], json.dumps(body).encode()
    body = {
        "type": "error.list",
        "request_id": f"sandbox-{seq}",
        "errors": [{"code": "server_error", "message": "Request failed due to an internal error"}],
    }
    return 500, [("Content-Type", "application/json; charset=utf-8")], json.dumps(body).encode()


class SandboxClock:
    """Wall-clock time plus an offset that tests can move forward (to expire tokens, pass windows)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> float:
        return time.time() + self.offset_s


class RequestLog:
    """Thread-safe, bounded log of API calls."""

    def __init__(self, maxlen: int = 2_000_000) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._maxlen = maxlen
        self._next = 1

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["n"] = self._next
            self._next += 1
            self._entries.append(entry)
            if len(self._entries) > self._maxlen:
                del self._entries[: len(self._entries) - self._maxlen]

    def since(self, n: int = 0, system: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._entries if e["n"] > n and (system is None or e["system"] == system)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def last_n(self) -> int:
        with self._lock:
            return self._next - 1


class _Gateway(cheroot_wsgi.Gateway_10):
    """Expose the connection so the fault injector can drop it."""

    def get_environ(self) -> dict[str, Any]:
        env = super().get_environ()
        env[ENV_CONN] = self.req.conn
        return env


_LEADING_SLASHES = re.compile(rb"^(\S+ )//+")


class _RequestLineWithSlashes:
    """The connection's input, whose first line is read with the request-target's leading slashes merged.

    Clients that keep an instance URL with a trailing slash (the Salesforce CLI does) ask for
    ``//services/data/...``. The real APIs answer it; cheroot would read ``//services`` as an authority and
    refuse the request (400 "Absolute URI not allowed") before the application sees it.
    """

    def __init__(self, rfile: Any) -> None:
        self._rfile = rfile

    def readline(self, *args: Any) -> bytes:
        return _LEADING_SLASHES.sub(rb"\1/", self._rfile.readline(*args), count=1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rfile, name)


class _Request(cheroot_server.HTTPRequest):
    def read_request_line(self) -> bool:
        rfile = self.rfile
        self.rfile = _RequestLineWithSlashes(rfile)
        try:
            return super().read_request_line()
        finally:
            self.rfile = rfile


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request


class _DropConnection(ConnectionError):
    pass


def _drop(environ: dict[str, Any]) -> None:
    conn = environ.get(ENV_CONN)
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.socket.shutdown(socket.SHUT_RDWR)
    raise _DropConnection("injected: connection dropped")


class _Paced:
    """A response body sent no faster than the cost model's transfer rate."""

    def __init__(self, inner: Iterable[bytes], cost: CostModel) -> None:
        self._inner, self._cost = inner, cost

    def __iter__(self):
        for chunk in self._inner:
            pause = self._cost.transfer_s(len(chunk))
            if pause:
                time.sleep(pause)
            yield chunk

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


def _quiet_stop(server: cheroot_wsgi.Server) -> None:
    with contextlib.suppress(Exception):
        server.stop()


class Sandbox:
    """Both emulators plus the shared machinery. ``start()`` serves them; ``stop()`` ends it."""

    def __init__(
        self,
        services: dict[str, SandboxService],
        state_dir: Path,
        *,
        clock: SandboxClock,
        host: str = "127.0.0.1",
        ports: dict[str, int] | None = None,
        faults: FaultInjector | None = None,
        latency_ms: float = 0.0,
        threads: int = 48,  # calls served at once per system: the real APIs take a client's 32 parallel reads
        cost: CostModel | None = None,
    ) -> None:
        self.services = services
        self.state_dir = state_dir
        self.clock = clock
        self.host = host
        self.ports = dict(ports or {})
        self.faults = faults or FaultInjector()
        self.cost = cost or CostModel()
        self.latency_ms = latency_ms or self.cost.call_ms  # the per-call part of the cost model
        self._apply_cost()
        self.threads = threads
        self.log = RequestLog()
        self._servers: dict[str, cheroot_wsgi.Server] = {}
        self._threads: list[threading.Thread] = []
        self.base_urls: dict[str, str] = {}
        self.tls = ensure_tls(state_dir / "tls")

    def _apply_cost(self) -> None:
        for service in self.services.values():
            hook = getattr(service, "set_cost_model", None)
            if callable(hook):
                hook(self.cost)

    # ------------------------------------------------------------ serving

    def start(self) -> dict[str, Any]:
        for name, service in self.services.items():
            app = self._wrap(name, service.wsgi_app())
            server = cheroot_wsgi.Server((self.host, self.ports.get(name, 0)), app, numthreads=self.threads)
            server.gateway = _Gateway
            server.ConnectionClass = _Connection
            server.expiration_interval = 0.05  # how often the accept loop notices stop()
            server.ssl_adapter = BuiltinSSLAdapter(str(self.tls.server_cert), str(self.tls.server_key))
            server.prepare()
            port = server.bind_addr[1]
            host = self.host if ":" not in self.host else f"[{self.host}]"
            self.base_urls[name] = f"https://{host}:{port}"
            t = threading.Thread(target=server.serve, name=f"sandbox-{name}", daemon=True)
            t.start()
            self._servers[name] = server
            self._threads.append(t)
        return self.facts()

    def stop(self) -> None:
        stoppers = [threading.Thread(target=_quiet_stop, args=(s,)) for s in self._servers.values()]
        for t in stoppers:
            t.start()
        for t in [*stoppers, *self._threads]:
            t.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        for service in self.services.values():
            close = getattr(service, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ca_cert": str(self.tls.ca_cert.resolve())}
        for name, service in self.services.items():
            base = self.base_urls[name]
            out[name] = dict(service.connection_facts(base))
        out["control"] = {name: base + CONTROL_PREFIX for name, base in self.base_urls.items()}
        out["pid"] = os.getpid()
        out["state_dir"] = str(self.state_dir.resolve())
        return out

    # ------------------------------------------------------------ middleware

    def _wrap(self, system: str, inner: Any) -> Any:
        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path.startswith(CONTROL_PREFIX + "/") or path == CONTROL_PREFIX:
                return self._control(system, environ, start_response)
            t0 = time.perf_counter()
            seq = self.faults.next_seq()
            environ[ENV_SEQ] = seq
            environ[ENV_FAULTS] = self.faults
            if self.latency_ms > 0:
                time.sleep(self.latency_ms / 1000)
            upload_s = self.cost.transfer_s(int(environ.get("CONTENT_LENGTH") or 0))
            if upload_s:
                time.sleep(upload_s)
            auth_path = path.startswith(("/services/oauth2", "/services/Soap"))
            fault = self.faults.decide(seq, system, auth_path=auth_path)
            entry: dict[str, Any] = {
                "seq": seq,
                "system": system,
                "method": environ.get("REQUEST_METHOD"),
                "path": path,
                "query": environ.get("QUERY_STRING", ""),
                "status": None,
                "records": 0,
                "fault": fault,
                "ts": self.clock.now(),
            }
            if fault == "slow":
                time.sleep(self.faults.rates.slow_ms / 1000)
            if fault == "drop":
                entry["status"] = 0
                entry["ms"] = round((time.perf_counter() - t0) * 1000, 3)
                self.log.add(entry)
                _drop(environ)
            if fault in {"server_error", "rate_limit", "expired_session"}:
                status, headers, body = error_response(system, fault, seq, self.faults.storm_reset_epoch())
                notify = getattr(inner, "injected_fault", None)
                if notify is not None:  # the emulator may keep state that such a failure ends (a company scroll)
                    notify(environ, status)
                entry["status"] = status
                entry["ms"] = round((time.perf_counter() - t0) * 1000, 3)
                self.log.add(entry)
                start_response(f"{status} Injected", [*headers, ("Content-Length", str(len(body)))])
                return [body]

            captured: dict[str, Any] = {}

            def sr(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                captured["status"] = int(status.split(" ", 1)[0])
                return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

            if fault == "drop_after":
                # Do the work, then vanish: the client must not assume the write failed.
                result = inner(environ, lambda *a, **k: lambda _b: None)
                for _ in result:
                    pass
                if hasattr(result, "close"):
                    result.close()
                entry["status"] = 0
                entry["records"] = int(environ.get(ENV_RECORDS, 0) or 0)
                entry["ms"] = round((time.perf_counter() - t0) * 1000, 3)
                self.log.add(entry)
                _drop(environ)
            try:
                result = inner(environ, sr)
            except _DropConnection:
                raise
            except Exception:  # a bug that escaped the emulator: logged, answered in the API's 500 shape
                log.exception("%s sandbox: %s %s failed", system, entry["method"], path)
                status, headers, body = unexpected_error_response(system, seq)
                start_response(
                    f"{status} Internal Server Error",
                    [*headers, ("Content-Length", str(len(body)))],
                    sys.exc_info() if "status" in captured else None,
                )
                captured["status"], environ[ENV_RECORDS] = status, 0
                result = [body]
            if self.cost.bytes_per_s > 0:
                result = _Paced(result, self.cost)
            entry["status"] = captured.get("status")
            entry["records"] = int(environ.get(ENV_RECORDS, 0) or 0)
            entry["ms"] = round((time.perf_counter() - t0) * 1000, 3)
            self.log.add(entry)
            return result

        return app

    # ------------------------------------------------------------ control API

    def _control(self, system: str, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        req = Request(environ)
        action = req.path[len(CONTROL_PREFIX) :].strip("/")
        try:
            body = req.get_json(silent=True) or {}
            result = self._control_action(req.method, action, body, dict(req.args))
            resp = Response(json.dumps(result, default=str), status=200, mimetype="application/json")
        except KeyError as exc:
            resp = Response(json.dumps({"error": f"unknown control action: {exc}"}), 404, mimetype="application/json")
        except (ValueError, TypeError) as exc:
            resp = Response(json.dumps({"error": str(exc)}), 400, mimetype="application/json")
        except Exception as exc:  # a sandbox bug: JSON naming it, the traceback in the log
            log.exception("sandbox control: %s %s failed", req.method, req.path)
            body = {"error": f"control action {action!r} failed: {type(exc).__name__}: {exc} (see the sandbox log)"}
            resp = Response(json.dumps(body), 500, mimetype="application/json")
        return resp(environ, start_response)

    def _control_action(self, method: str, action: str, body: dict[str, Any], args: dict[str, str]) -> Any:
        if action == "state" and method == "GET":
            return {
                **{name: s.dump() for name, s in self.services.items()},
                "faults": self.faults.describe(),
                "latency_ms": self.latency_ms,
                "cost_model": self.cost.describe(),
                "clock_offset_s": self.clock.offset_s,
                "requests_logged": self.log.last_n(),
            }
        if action == "reset" and method == "POST":
            for s in self.services.values():
                s.reset()
            self.log.clear()
            self.clock.offset_s = 0.0
            return {"ok": True}
        if action == "requests" and method == "GET":
            since = int(args.get("since", 0))
            entries = self.log.since(since, args.get("system"))
            return {"requests": entries, "last": self.log.last_n()}
        if action == "requests/clear" and method == "POST":
            self.log.clear()
            return {"ok": True}
        if action == "faults" and method == "POST":
            name = body.get("profile", "none")
            rates = profile(name, **(body.get("rates") or {}))
            self.faults.configure(rates, int(body.get("seed", 0)), name)
            return self.faults.describe()
        if action == "cost" and method == "POST":
            figures = {k: v for k, v in body.items() if k != "profile"}
            self.cost = cost_model(str(body.get("profile", "none")), **figures)
            self.latency_ms = self.cost.call_ms
            self._apply_cost()
            return self.cost.describe()
        if action == "latency" and method == "POST":
            self.latency_ms = float(body["ms"])
            return {"latency_ms": self.latency_ms}
        if action == "clock" and method == "POST":
            if "offset_s" in body:
                self.clock.offset_s = float(body["offset_s"])
            self.clock.offset_s += float(body.get("advance_s", 0))
            return {"clock_offset_s": self.clock.offset_s, "now": self.clock.now()}
        if action.startswith("service/") and method == "POST":
            # POST /__sandbox__/service/<name>/<op> {kwargs} -> service.control_<op>(**kwargs)
            _, name, op = action.split("/", 2)
            func = getattr(self.services[name], f"control_{op.replace('-', '_')}", None)
            if func is None:
                raise KeyError(action)
            return func(**body)
        raise KeyError(action)


# ---------------------------------------------------------------- building a sandbox


def _load_services(state_dir: Path, load_dir: Path | None, clock: SandboxClock) -> dict[str, SandboxService]:
    try:
        from crmsandbox.intercom import IntercomService
        from crmsandbox.salesforce import SalesforceService
    except ImportError as exc:  # pragma: no cover - only while the emulators are being built
        raise SandboxInputError(f"the sandbox emulators are not available: {exc}", hint="see the open issues") from None
    return {
        "salesforce": SalesforceService(state_dir / "salesforce", load_dir, clock=clock.now),
        "intercom": IntercomService(state_dir / "intercom", load_dir, clock=clock.now),
    }


def prepare_load_dir(
    state_dir: Path,
    *,
    load: str | None,
    size: int | None,
    seed: int,
    as_of: str = "original",
    started: float | None = None,
) -> Path | None:
    """Decide what to load; (re)generate data when asked; shift its timestamps for ``as_of`` (see asof.py).

    Wipes old state when the source changed, which includes a different shift: ``--as-of now`` with
    ``--load`` or ``--size`` serves the folder afresh, as of that start; a restart on the saved state (neither
    given) resumes it with the shift of its first start.
    """
    from crmsandbox.asof import folder_shift, shift_for, shifted_load_folder

    load_dir = _source_load_dir(state_dir, load=load, size=size, seed=seed)
    if load_dir is None:
        return None
    marker = state_dir / "source.json"
    source = json.loads(marker.read_text())
    if as_of in ("now", "auto") and load is None and size is None and source.get("as_of_shift_s"):
        shift = int(source["as_of_shift_s"])  # a restart on saved state resumes it, as of its first start
    elif as_of == "original":
        shift = 0
    else:
        shift = shift_for(as_of, load_dir, time.time() if started is None else started)
    if source.get("as_of_shift_s", 0) != shift:  # the state holds the data at another moment: load afresh
        for sub in ("salesforce", "intercom"):
            shutil.rmtree(state_dir / sub, ignore_errors=True)
        source.pop("as_of_shift_s", None)
        marker.write_text(json.dumps({**source, "as_of_shift_s": shift} if shift else source))
    if shift == 0:
        return load_dir
    out = state_dir / "load-as-of"
    return out if folder_shift(out) == shift else shifted_load_folder(load_dir, shift, out)


def _source_load_dir(state_dir: Path, *, load: str | None, size: int | None, seed: int) -> Path | None:
    marker = state_dir / "source.json"
    if load:
        source = {"load": str(Path(load).resolve())}
        load_dir: Path | None = Path(load)
        if not (load_dir / "salesforce").is_dir() and not (load_dir / "intercom").is_dir():
            raise SandboxInputError(
                f"{load} is not a load folder (no salesforce/ or intercom/ inside)",
                hint="pass a folder written by `python -m crmsandbox generate` (or `syncaudit sandbox generate`)",
            )
    elif size is not None:
        source = {"size": size, "seed": seed}
        load_dir = state_dir / f"load-{size}-{seed}"
        if not (load_dir / "truth.json").exists():
            from crmsandbox.generator import generate

            if load_dir.exists():
                shutil.rmtree(load_dir)
            generate(load_dir, size=size, seed=seed)
    else:
        if marker.exists():
            source = json.loads(marker.read_text())
            if source.get("empty"):
                return None
            load_dir = (
                Path(source["load"]) if "load" in source else state_dir / f"load-{source['size']}-{source['seed']}"
            )
            return load_dir
        source, load_dir = {"empty": True}, None
    previous = json.loads(marker.read_text()) if marker.exists() else None
    if previous is not None and {k: v for k, v in previous.items() if k != "as_of_shift_s"} != source:
        for sub in ("salesforce", "intercom", "load-as-of"):
            shutil.rmtree(state_dir / sub, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    if (
        previous is not None
        and previous.get("as_of_shift_s")
        and {k: v for k, v in previous.items() if k != "as_of_shift_s"} == source
    ):
        source = {**source, "as_of_shift_s": previous["as_of_shift_s"]}  # prepare_load_dir decides about it
    marker.write_text(json.dumps(source))
    return load_dir


def build_sandbox(
    state_dir: Path,
    *,
    load: str | None = None,
    size: int | None = None,
    seed: int = 7,
    faults: str = "none",
    fault_seed: int = 0,
    latency_ms: float = 0.0,
    host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    as_of: str = "original",
    cost: str = "none",
) -> Sandbox:
    """A sandbox over a load folder (or generated data); ``as_of``: ``original``, ``now`` or an ISO datetime."""
    state_dir.mkdir(parents=True, exist_ok=True)
    load_dir = prepare_load_dir(state_dir, load=load, size=size, seed=seed, as_of=as_of)
    clock = SandboxClock()
    try:
        rates = profile(faults)
    except ValueError as exc:
        raise SandboxInputError(str(exc), key="--faults", hint="use none, flaky or chaos") from None
    try:
        model = cost_model(cost)
    except ValueError as exc:
        raise SandboxInputError(str(exc), key="--cost-model", hint="use none or realistic") from None
    return Sandbox(
        _load_services(state_dir, load_dir, clock),
        state_dir,
        clock=clock,
        host=host,
        ports=ports,
        faults=FaultInjector(rates, fault_seed, faults),
        latency_ms=latency_ms,
        cost=model,
    )


def write_facts(state_dir: Path, facts: dict[str, Any]) -> Path:
    path = state_dir / "sandbox.json"
    tmp = path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(facts, f, indent=2)
    os.replace(tmp, path)
    return path


READY = "crmsandbox ready"


def ready_line(facts: dict[str, Any], facts_path: Path) -> str:
    """The one line `serve` prints once both emulators listen: their base URLs and where the facts are."""
    return (
        f"{READY} · Salesforce {facts['salesforce']['instance_url']} · Intercom {facts['intercom']['base_url']}"
        f" · connection facts (credentials, CA) in {facts_path.resolve()}"
    )


def facts_from_ready_line(line: str) -> dict[str, Any]:
    """The connection facts a ready line points at (for scripts that start `serve` and wait for the line)."""
    if not line.startswith(READY) or " in " not in line:
        raise SandboxInputError(
            f"not a ready line: {line.strip()[:200]!r}", hint="start `serve` and read its first line"
        )
    path = Path(line.rstrip("\n").rsplit(" in ", 1)[1])
    return {**json.loads(path.read_text(encoding="utf-8")), "sandbox_json": str(path)}


def default_state_dir() -> Path:
    return Path(os.environ.get("CRMSANDBOX_STATE_DIR") or ".sandbox")


def cli_serve(args: argparse.Namespace) -> int:
    """`syncaudit sandbox serve`: run until interrupted; sandbox.json exists while it runs."""
    state_dir = Path(args.state_dir) if args.state_dir else default_state_dir()
    # An emulator's unexpected error (answered 500 in the API's shape) leaves its traceback on stderr.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    size = args.size
    if size is not None and size < 0:
        raise SandboxInputError("--size must be zero or more", key="--size")
    if args.load is None and size is None and not (state_dir / "source.json").exists():
        size = 20_000
    sandbox = build_sandbox(
        state_dir,
        load=args.load,
        size=size,
        seed=args.seed,
        faults=args.faults,
        fault_seed=args.fault_seed,
        latency_ms=args.latency_ms,
        host=args.host,
        ports={"salesforce": args.salesforce_port, "intercom": args.intercom_port},
        as_of=args.as_of,
        cost=args.cost_model,
    )
    try:
        facts = sandbox.start()
    except OSError as exc:
        raise SandboxInputError(
            f"cannot listen: {exc.strerror or exc}", hint="choose other ports, or 0 for free ones"
        ) from None
    facts["started_at"] = datetime.now(UTC).isoformat()
    path = write_facts(state_dir, facts)
    print(ready_line(facts, path), flush=True)  # the credentials stay in sandbox.json, never on stdout
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return 0
