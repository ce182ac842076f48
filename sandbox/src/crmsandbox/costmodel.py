"""The sandbox's cost model: what an API call costs in time, so benchmarks measure the client, not loopback.

Against the real services a call pays a round trip and server time, its payload takes time to cross the
network, and a Bulk job takes time to process in proportion to its rows. On loopback all of that is ~0, so a
client that makes many small calls looks as fast as one that makes few large ones. The model adds:

- ``call_ms``: fixed time per API call (round trip plus server time), before the app answers;
- ``bytes_per_s``: transfer rate for request and response bodies (0: instant);
- Bulk API 2.0 jobs that stay ``InProgress`` for ``bulk_min_s`` plus rows / ``bulk_query_rows_per_s``
  (query jobs) or rows / ``bulk_ingest_rows_per_s`` (ingest jobs) before ``JobComplete``.

Intercom's rate limits (per-minute budget in 10-second windows, X-RateLimit-* headers) and the fault profiles
are modelled on their own (intercom/ratelimit.py, faults.py) and apply under every model.

Profiles: ``none`` (the default: everything instant, for tests) and ``realistic`` (figures of the order the
real APIs show from a nearby region; see the README for their sources and how to override them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class CostModel:
    """Time costs of the emulated APIs. All zero: no cost."""

    name: str = "none"
    call_ms: float = 0.0
    bytes_per_s: float = 0.0
    bulk_min_s: float = 0.0
    bulk_query_rows_per_s: float = 0.0
    bulk_ingest_rows_per_s: float = 0.0

    def transfer_s(self, nbytes: int) -> float:
        """Seconds to move ``nbytes`` of body over the modelled link."""
        return nbytes / self.bytes_per_s if self.bytes_per_s > 0 and nbytes > 0 else 0.0

    def bulk_s(self, rows: int, kind: str) -> float:
        """Seconds a Bulk API 2.0 job of ``rows`` rows spends InProgress (``kind``: query or ingest)."""
        rate = self.bulk_query_rows_per_s if kind == "query" else self.bulk_ingest_rows_per_s
        if rate <= 0 and self.bulk_min_s <= 0:
            return 0.0
        return self.bulk_min_s + (rows / rate if rate > 0 else 0.0)

    def describe(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for benchmark output."""
        if self.name == "none" and not any(getattr(self, f.name) for f in fields(self) if f.name != "name"):
            return "cost model none (loopback: no per-call latency, instant transfer, Bulk jobs complete at once)"
        mbit = self.bytes_per_s * 8 / 1e6
        return (
            f"cost model {self.name}: {self.call_ms:g} ms/call, {mbit:g} Mbit/s transfer, Bulk 2.0 jobs "
            f"{self.bulk_min_s:g} s + rows / {self.bulk_query_rows_per_s:g} per s (query), "
            f"/ {self.bulk_ingest_rows_per_s:g} per s (ingest)"
        )


PROFILES = {
    "none": CostModel(),
    # Order-of-magnitude figures for a client near the org's region: ~60 ms per REST call (round trip plus
    # server time), 50 Mbit/s, Bulk API 2.0 jobs taking a few seconds of queueing plus ~20k rows/s to extract
    # and ~2k rows/s to load (Salesforce's Bulk API guidance; measured jobs vary widely with the object).
    "realistic": CostModel(
        "realistic",
        call_ms=60.0,
        bytes_per_s=6_250_000.0,
        bulk_min_s=3.0,
        bulk_query_rows_per_s=20_000.0,
        bulk_ingest_rows_per_s=2_000.0,
    ),
}


def cost_model(name: str = "none", **overrides: float) -> CostModel:
    """The named profile with some figures overridden; ValueError naming the choices otherwise."""
    if name not in PROFILES:
        raise ValueError(f"unknown cost model {name!r}; use one of {', '.join(PROFILES)}")
    known = {f.name for f in fields(CostModel)} - {"name"}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ValueError(f"unknown cost model figure {bad[0]!r}; use {', '.join(sorted(known))}")
    values = {}
    for k, v in overrides.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"cost model figure {k} must be a number >= 0, not {v!r}")
        values[k] = float(v)
    return replace(PROFILES[name], **values)
