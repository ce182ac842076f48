"""Postal addresses as real orgs hold them: street, city, postal code, state or region and country, consistent
with the person's locale.

Each locale has a fixed table of places, built once per process from Faker's address data with a fixed seed
(so it depends only on the pinned Faker version): cities of unequal size (a Zipf law, so a few big cities hold
many people), each in one state or region and with postal codes of its own (more for bigger cities), and
street names. Locales Faker has no address data for get a short curated table.

A person's address is a pure function of the world's seed and an address index (the person's own index by
default; a household shares one), like the other free text: no random stream is drawn, so adding addresses
shifts no other value, and any chunk of people can be written on its own. About one address in seven has no
street, and half of those no city, postal code or state either (only the country, as reps often leave it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from crmsandbox.generator.texts import SECOND_LINES

CITIES, POSTCODES_MAX, STREETS = 60, 8, 300
FAKER_SEED = 20_261_206
# Number before the street name ("12 Main Street") in these locales, after it elsewhere ("Hauptstraße 12").
NUMBER_FIRST = {"en_US", "en_GB", "en_IN", "hi_IN", "fr_FR", "th_TH", "he_IL", "ar_AA"}
# Locales without Faker address data: (city, region, postal prefix or None) and street names.
CURATED: dict[str, tuple[list[tuple[str, str, str | None]], list[str]]] = {
    "tr_TR": (
        [("İstanbul", "İstanbul", "34"), ("Ankara", "Ankara", "06"), ("İzmir", "İzmir", "35"), ("Bursa", "Bursa", "16"),
         ("Antalya", "Antalya", "07"), ("Adana", "Adana", "01"), ("Konya", "Konya", "42"), ("Gaziantep", "Gaziantep", "27"),
         ("Kayseri", "Kayseri", "38"), ("Eskişehir", "Eskişehir", "26"), ("Trabzon", "Trabzon", "61"),
         ("Samsun", "Samsun", "55"), ("Mersin", "Mersin", "33"), ("Denizli", "Denizli", "20")],
        ["Atatürk Caddesi", "İnönü Sokak", "Cumhuriyet Caddesi", "İstiklal Caddesi", "Gazi Bulvarı", "Millet Caddesi",
         "Okul Sokak", "Çamlık Sokak", "Lale Sokak", "Bağdat Caddesi", "Fevzi Çakmak Caddesi", "Menekşe Sokak"],
    ),
    "ar_AA": (
        [("Dubai", "Dubai", None), ("Abu Dhabi", "Abu Dhabi", None), ("Sharjah", "Sharjah", None),
         ("Al Ain", "Abu Dhabi", None), ("Ajman", "Ajman", None), ("Ras Al Khaimah", "Ras Al Khaimah", None),
         ("Fujairah", "Fujairah", None), ("Umm Al Quwain", "Umm Al Quwain", None)],
        ["Sheikh Zayed Road", "Al Wasl Road", "Jumeirah Beach Road", "Al Khaleej Road", "Hamdan Street",
         "Corniche Road", "Al Maktoum Road", "Airport Road", "Al Muroor Road", "Khalifa Street"],
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Places:
    """One locale's places: per postal code its city and state (parallel arrays), the cumulative weight of each
    postal code (a city's weight shared among its codes), and the street names."""

    city: np.ndarray
    state: np.ndarray
    postcode: np.ndarray
    cum: np.ndarray
    streets: np.ndarray
    number_first: bool


def _faker_places(locale: str, taken: set[str]) -> tuple[list[tuple[str, str | None, list[str | None]]], list[str]]:
    """Cities, their regions and postal codes (none in ``taken``: another locale's of the same country)."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(FAKER_SEED)
    # Some address providers build a list from a set (it_IT's cities), so its order, and the cities drawn from
    # it, followed the interpreter's string hash seed: another process made other places. Sorted, they do not.
    for prov in fake.providers:
        if isinstance(getattr(prov, "cities", None), list):
            prov.cities = sorted(prov.cities)
    unit = next((getattr(fake, m) for m in ("administrative_unit", "region") if hasattr(fake, m)), None)
    cities: dict[str, tuple[str | None, list[str | None]]] = {}
    for _ in range(CITIES * 20):
        if len(cities) >= CITIES:
            break
        name = str(fake.city())
        if name not in cities:
            cities[name] = (str(unit()) if unit else None, [])
    seen = set(taken)
    out = []
    for rank, (name, (state, _)) in enumerate(cities.items()):
        codes: list[str | None] = []
        want = max(1, POSTCODES_MAX // (1 + rank // 4))  # the biggest cities have the most codes
        for _ in range(want * 10):
            code = str(fake.postcode())
            if code not in seen:
                seen.add(code)
                codes.append(code)
            if len(codes) == want:
                break
        out.append((name, state, codes or [None]))
    streets = list(dict.fromkeys(str(fake.street_name()) for _ in range(STREETS * 2)))[:STREETS]
    return out, streets


def _curated_places(locale: str) -> tuple[list[tuple[str, str | None, list[str | None]]], list[str]]:
    cities, streets = CURATED[locale]
    out = []
    for rank, (name, region, prefix) in enumerate(cities):
        n = max(1, POSTCODES_MAX // (1 + rank // 4))
        out.append((name, region, [None] if prefix is None else [f"{prefix}{100 + 37 * k:03d}" for k in range(n)]))
    return out, streets


@lru_cache(maxsize=64)
def places(locale: str) -> Places:
    """The place table of a locale (built once per process)."""
    from crmsandbox.generator.pools import LOCALES

    region = {loc: reg for loc, _, reg, *_ in LOCALES}
    earlier = [loc for loc, *_ in LOCALES[: [x[0] for x in LOCALES].index(locale)] if region[loc] == region[locale]]
    taken = {c for loc in earlier for c in places(loc).postcode if c is not None}  # one country, one code space
    cities, streets = _curated_places(locale) if locale in CURATED else _faker_places(locale, taken)
    city, state, code, weight = [], [], [], []
    for rank, (name, region, codes) in enumerate(cities):
        w = 1.0 / (rank + 2)  # Zipf: the biggest city about half again the second's size
        for c in codes:
            city.append(name)
            state.append(region)
            code.append(c)
            weight.append(w / len(codes))
    cum = np.cumsum(weight)
    return Places(
        np.asarray(city, dtype=object),
        np.asarray(state, dtype=object),
        np.asarray(code, dtype=object),
        cum / cum[-1],
        np.asarray(streets, dtype=object),
        locale in NUMBER_FIRST,
    )


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a well-spread 64-bit hash of each value."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def addresses(seed: int, index: np.ndarray, locales: list[str]) -> dict[str, np.ndarray]:
    """Street (one or two lines), city, state and postal code of address ``index[k]`` in locale ``locales[k]``
    (object arrays, None where the address leaves the part out)."""
    n = len(index)
    h = _mix(np.asarray(index, dtype=np.int64).astype(np.uint64) ^ _mix(np.full(n, seed, dtype=np.uint64)))
    h2, h3 = _mix(h), _mix(h ^ np.uint64(0xA5A5A5A5))
    u = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    out = {k: np.full(n, None, dtype=object) for k in ("street", "city", "state", "postal_code")}
    loc_arr = np.asarray(locales, dtype=object)
    for loc in dict.fromkeys(locales):
        rows = np.flatnonzero(loc_arr == loc)
        pl = places(loc)
        at = np.minimum(np.searchsorted(pl.cum, u[rows], side="right"), len(pl.cum) - 1)
        out["city"][rows] = pl.city[at]
        out["state"][rows] = pl.state[at]
        out["postal_code"][rows] = pl.postcode[at]
        street = pl.streets[(h2[rows] % np.uint64(len(pl.streets))).astype(np.int64)]
        number = (1 + h3[rows] % np.uint64(240)).astype(np.int64)
        lines = [f"{num} {s}" if pl.number_first else f"{s} {num}" for s, num in zip(street, number, strict=True)]
        out["street"][rows] = lines
    part = (h3 >> np.uint64(20)) % np.uint64(42)
    second = np.flatnonzero(part % np.uint64(3) != 0)  # two lines on the rest: a suite, a floor, c/o
    out["street"][second] = [
        f"{s}\n{SECOND_LINES[int(k) % len(SECOND_LINES)].format(n=1 + int(k) % 40)}"
        for s, k in zip(out["street"][second], part[second], strict=True)
    ]
    no_street = np.flatnonzero(part % np.uint64(7) == 6)
    out["street"][no_street] = None
    bare = no_street[part[no_street] % np.uint64(2) == 0]
    for k in ("city", "state", "postal_code"):
        out[k][bare] = None
    return out
