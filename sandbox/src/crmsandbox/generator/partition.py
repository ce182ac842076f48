"""Org pairs larger than one partition: generated partition by partition, so memory does not grow with size.

An org pair of more than ``PARTITION_PEOPLE`` people a side is cut into near-equal partitions. Each is a
complete org pair of its own (its people, their companies, conversations, planted defects and hard negatives,
drawn from a seed derived from the run's seed and the partition's index) written to a folder of its own, then
appended to the output and dropped, so the peak memory is one partition's. What the partitions share:

* the owners (Salesforce Users and Intercom admins, sized for the whole pair) and the Intercom app;
* record ids kept apart by construction: each partition has its own Salesforce pod (characters 4-5 of an
  id), Intercom ObjectId constant and numeric id range; product user ids and AccountNumbers carry the
  partition in their residue modulo the partition count;
* emails, phone numbers and company names (domains) unique across the whole pair: a partition avoids the
  keys of the partitions before it (kept as sorted 64-bit hashes: 8 bytes a key, the only state that grows
  with size, about 250 MB at ten million people a side);

* full names, while the pools have room (``world.name_room``: about 2.2 million people a side) and
  ``name_frequency`` is off.

Beyond that room, and with ``name_frequency`` on, people of two partitions may share a full name; only the
namesakes within a partition are listed as hard negatives, so an audit reporting a cross-partition pair loses
precision, as for the unlisted namesakes among leads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from crmsandbox.generator import phones
from crmsandbox.generator.ids import BASE62, numeric_ids, sf_id_counters, sf_ids
from crmsandbox.generator.pools import locale_pools
from crmsandbox.generator.world import Owners, World, _owners, in_sorted, members_sorted, phone_key

PARTITION_PEOPLE = 500_000


def partition_sizes(size: int, per: int = PARTITION_PEOPLE) -> list[int]:
    """Near-equal partition sizes that add up to ``size`` (one partition up to ``per`` people)."""
    count = max(1, -(-size // per))
    base, extra = divmod(size, count)
    return [base + (1 if p < extra else 0) for p in range(count)]


def partition_seed(seed: int, index: int) -> int:
    """The seed of partition ``index`` of a run with ``seed`` (below 2**63)."""
    state = np.random.SeedSequence([seed, 0x9A27, index]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def _hash64(keys: Iterable[str]) -> np.ndarray:
    """Sorted unique 64-bit hashes (BLAKE2b, so the same in every process)."""
    out = np.fromiter(
        (int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "little") for k in keys), dtype=np.uint64
    )
    return np.unique(out)


class TakenSet(set):
    """This partition's keys (a set) plus the earlier partitions' (a sorted array): ``in`` checks both."""

    def __init__(self, items: Iterable = (), earlier: np.ndarray | None = None, hashed: bool = True) -> None:
        super().__init__(items)
        self._earlier = earlier if earlier is not None else np.empty(0, dtype=np.uint64)
        self._hashed = hashed

    def __contains__(self, key: object) -> bool:
        if set.__contains__(self, key):
            return True
        if not len(self._earlier):
            return False
        if self._hashed:
            value = int.from_bytes(hashlib.blake2b(str(key).encode(), digest_size=8).digest(), "little")
        else:
            value = int(key)  # type: ignore[call-overload]
        return in_sorted(self._earlier, value)


@dataclass
class TakenKeys:
    """Emails, phone numbers and company keys used by the partitions written so far."""

    emails: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    companies: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    phones: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    names: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def email_keys(self) -> TakenSet:
        return TakenSet((), self.emails)

    def company_keys(self) -> TakenSet:
        return TakenSet((), self.companies)

    def phone_keys(self, own: set[int]) -> TakenSet:
        return TakenSet(own, self.phones, hashed=False)

    def redraw_phones(
        self, rng: np.random.Generator, region: int, name: str, prefix: np.ndarray, suffix: np.ndarray, n_prefixes: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw again the numbers an earlier partition has (the space is sized for the whole pair, so few)."""
        prefix, suffix = prefix.copy(), suffix.copy()
        space = min(n_prefixes, len(phones.region_numbers(name, n_prefixes).prefixes)) * 10**phones.SUFFIX_DIGITS
        for _ in range(1000):
            keys = np.asarray(phone_key(region, prefix, suffix), dtype=np.int64)
            clash = members_sorted(self.phones, keys)
            _, first = np.unique(keys, return_index=True)
            dup = np.ones(len(keys), dtype=bool)
            dup[first] = False
            bad = np.flatnonzero(clash | dup)
            if len(bad) == 0:
                return prefix, suffix
            codes = rng.integers(0, space, size=len(bad))
            prefix[bad], suffix[bad] = codes // 10**phones.SUFFIX_DIGITS, codes % 10**phones.SUFFIX_DIGITS
        raise RuntimeError(f"phone number space of region {name} exhausted")

    def absorb(self, w: World) -> None:
        """Add a finished partition's keys."""
        own_emails = set.__iter__(w.email_keys) if isinstance(w.email_keys, TakenSet) else iter(w.email_keys)
        self.emails = np.union1d(self.emails, _hash64(own_emails))
        self.companies = np.union1d(self.companies, _hash64(d.split(".", 1)[0] for d in w.companies.domain))
        own_phones = np.fromiter(set.__iter__(w.phone_keys), dtype=np.int64)
        self.phones = np.union1d(self.phones, own_phones)
        self.names = np.union1d(self.names, w.name_keys.own_keys())


@dataclass
class Part:
    """What one partition knows of the whole org pair."""

    index: int
    count: int
    total: int  # people a side in the whole pair
    owners: Owners
    user_ids: list[str]
    admin_ids: list[str | None]
    app_id: str
    taken: TakenKeys

    @property
    def pod(self) -> str:
        """Characters 4-5 of this partition's Salesforce ids (a single-partition run uses "Dn")."""
        k = 14 * 62 + self.index  # from "E0" on, never "Dn"
        return chr(BASE62[(k // 62) % 62]) + chr(BASE62[k % 62])


def partitions(seed: int, size: int, per: int = PARTITION_PEOPLE) -> Iterator[tuple[Part, int, int]]:
    """(Part, partition size, partition seed) for each partition of an org pair of ``size`` people a side.

    The caller writes each partition and calls ``part.taken.absorb(world)`` before asking for the next."""
    sizes = partition_sizes(size, per)
    rng = np.random.Generator(np.random.PCG64([seed, 0x5CA1E]))
    owners = _owners(rng, locale_pools(), size)
    n_users = int(owners.has_sf.sum())
    user_ids = sf_ids("User", sf_id_counters(rng, n_users + 1))
    admin_num = numeric_ids(991_267_400, owners.n, rng)
    admin_ids = [admin_num[k] if owners.has_ic[k] else None for k in range(owners.n)]
    app_id = "".join(np.asarray(list("abcdefghijklmnopqrstuvwxyz0123456789"))[rng.integers(0, 36, size=8)])
    taken = TakenKeys()
    if len(sizes) > 3844 - 14 * 62:
        raise ValueError("too many partitions for the Salesforce pod characters")
    for p, n in enumerate(sizes):
        part = Part(p, len(sizes), size, owners, user_ids, admin_ids, app_id, taken)
        yield part, n, partition_seed(seed, p)
