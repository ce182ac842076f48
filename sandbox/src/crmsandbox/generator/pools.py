"""Value pools, built once per run from Faker's locale data and short curated lists.

Faker is used only as a source of per-locale name lists (read straight from its providers, so
no Faker randomness is involved and the output depends only on the pinned Faker version and the
seed). Everything random is drawn later with numpy.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

# locale, weight, phone region, free-mail domains, company TLD, legal suffixes
LOCALES: list[tuple[str, float, str, tuple[str, ...], str, tuple[str, ...]]] = [
    (
        "en_US",
        0.30,
        "US",
        ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"),
        "com",
        ("Inc", "LLC", "Corp"),
    ),
    ("en_GB", 0.07, "GB", ("gmail.com", "hotmail.co.uk", "outlook.com", "btinternet.com"), "co.uk", ("Ltd", "PLC")),
    ("de_DE", 0.09, "DE", ("gmail.com", "gmx.de", "web.de", "t-online.de"), "de", ("GmbH", "AG")),
    ("fr_FR", 0.06, "FR", ("gmail.com", "orange.fr", "free.fr", "laposte.net"), "fr", ("SAS", "SARL")),
    ("es_ES", 0.05, "ES", ("gmail.com", "hotmail.es", "yahoo.es"), "es", ("S.L.", "S.A.")),
    ("es_MX", 0.03, "MX", ("gmail.com", "hotmail.com", "prodigy.net.mx"), "com.mx", ("S.A. de C.V.",)),
    ("it_IT", 0.03, "IT", ("gmail.com", "libero.it", "virgilio.it"), "it", ("S.r.l.", "S.p.A.")),
    ("pt_BR", 0.04, "BR", ("gmail.com", "uol.com.br", "bol.com.br", "hotmail.com"), "com.br", ("Ltda.",)),
    ("nl_NL", 0.03, "NL", ("gmail.com", "ziggo.nl", "kpnmail.nl"), "nl", ("B.V.",)),
    ("sv_SE", 0.02, "SE", ("gmail.com", "telia.com"), "se", ("AB",)),
    ("tr_TR", 0.02, "TR", ("gmail.com", "yandex.com.tr", "hotmail.com"), "com.tr", ("A.Ş.",)),
    ("cs_CZ", 0.01, "CZ", ("gmail.com", "seznam.cz"), "cz", ("s.r.o.",)),
    ("ru_RU", 0.03, "RU", ("mail.ru", "yandex.ru", "gmail.com"), "ru", ("OOO",)),
    ("uk_UA", 0.01, "UA", ("ukr.net", "gmail.com"), "com.ua", ("TOV",)),
    ("el_GR", 0.01, "GR", ("gmail.com", "yahoo.gr"), "gr", ("A.E.",)),
    ("ja_JP", 0.04, "JP", ("gmail.com", "yahoo.co.jp", "docomo.ne.jp"), "co.jp", ("K.K.",)),
    ("zh_CN", 0.04, "CN", ("qq.com", "163.com", "126.com", "gmail.com"), "cn", ("Co., Ltd.",)),
    ("ko_KR", 0.02, "KR", ("naver.com", "daum.net", "gmail.com"), "co.kr", ("Co., Ltd.",)),
    ("hi_IN", 0.02, "IN", ("gmail.com", "rediffmail.com", "yahoo.co.in"), "in", ("Pvt. Ltd.",)),
    ("en_IN", 0.03, "IN", ("gmail.com", "rediffmail.com", "outlook.com"), "in", ("Pvt. Ltd.",)),
    ("ar_AA", 0.02, "AE", ("gmail.com", "hotmail.com", "yahoo.com"), "ae", ("LLC",)),
    ("he_IL", 0.01, "IL", ("gmail.com", "walla.co.il"), "co.il", ("Ltd",)),
    ("th_TH", 0.01, "TH", ("gmail.com", "hotmail.com"), "co.th", ("Co., Ltd.",)),
    ("fi_FI", 0.01, "FI", ("gmail.com", "luukku.com"), "fi", ("Oy",)),
    ("da_DK", 0.01, "DK", ("gmail.com", "jubii.dk"), "dk", ("ApS",)),
]

# Roman transliteration for the Cyrillic and Greek scripts (email local parts are ASCII).
_TRANSLIT = {
    **dict(zip("абвгдезийклмнопрстуфхцыэ", "abvgdeziyklmnoprstufhcye", strict=True)),
    "ё": "yo",
    "ж": "zh",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ю": "yu",
    "я": "ya",
    "ь": "",
    "ъ": "",
    "і": "i",
    "ї": "yi",
    "є": "ye",
    "ґ": "g",
    **dict(zip("αβγδεζηικλμνξοπρστυφχω", "avgdeziiklmnxoprstyfho", strict=True)),
    "θ": "th",
    "ψ": "ps",
    "ς": "s",
    "ı": "i",
    "ø": "o",
    "æ": "ae",
    "ł": "l",
    "đ": "d",
    "ß": "ss",
    "œ": "oe",
    "þ": "th",
    "ð": "d",
}

NICKNAMES = {
    "Robert": "Bob",
    "William": "Bill",
    "Elizabeth": "Liz",
    "Katherine": "Kate",
    "Michael": "Mike",
    "James": "Jim",
    "Jennifer": "Jen",
    "Margaret": "Maggie",
    "Richard": "Rick",
    "Thomas": "Tom",
    "Christopher": "Chris",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Anthony": "Tony",
    "Joseph": "Joe",
    "Alexander": "Alex",
    "Benjamin": "Ben",
    "Samuel": "Sam",
    "Nicholas": "Nick",
    "Patricia": "Pat",
    "Jonathan": "Jon",
    "Andrew": "Andy",
    "Edward": "Ed",
    "Stephanie": "Steph",
    "Rebecca": "Becky",
    "Deborah": "Debbie",
    "Susan": "Sue",
    "Victoria": "Vicky",
    "Kimberly": "Kim",
    "Jessica": "Jess",
    "Timothy": "Tim",
    "Steven": "Steve",
    "Gregory": "Greg",
    "Kenneth": "Ken",
    "Ronald": "Ron",
    "Donald": "Don",
    "Lawrence": "Larry",
    "Frederick": "Fred",
    "Peter": "Pete",
    "Charles": "Charlie",
    "Johannes": "Hannes",
    "Alejandro": "Alex",
    "Francisco": "Paco",
    "José": "Pepe",
    "Giuseppe": "Beppe",
    "Wolfgang": "Wolf",
    "Maximilian": "Max",
    "Christina": "Tina",
    "Catherine": "Cathy",
    "Barbara": "Barb",
    "Jacqueline": "Jackie",
    "Theodore": "Ted",
    "Raymond": "Ray",
    "Douglas": "Doug",
    "Gabriel": "Gabe",
    "Vladimir": "Vova",
    "Aleksandr": "Sasha",
    "Dmitry": "Dima",
    "Mikhail": "Misha",
    "Ekaterina": "Katya",
}

INDUSTRIES = [
    "Technology",
    "Finance",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Education",
    "Consulting",
    "Media",
    "Telecommunications",
    "Insurance",
    "Transportation",
    "Hospitality",
    "Energy",
    "Biotechnology",
    "Construction",
    "Not For Profit",
    "Government",
    "Entertainment",
]
INDUSTRY_WEIGHTS = [22, 9, 8, 8, 8, 5, 7, 4, 3, 3, 3, 3, 2, 3, 3, 2, 1, 2]

BRANDS = (
    "Acme Apex Arbor Aurora Axiom Beacon Birch Blue Bolt Bright Cedar Cinder Cirrus Clear Cobalt Coral Crest "
    "Crimson Delta Echo Ember Evergreen Falcon Fern Flux Forge Frontier Gale Garnet Glacier Golden Granite Harbor "
    "Helix Horizon Indigo Iron Ivory Jade Juniper Keystone Kinetic Lantern Laurel Lumen Lunar Maple Marble Meadow "
    "Meridian Mesa Nimbus Noble North Nova Oak Onyx Orbit Pacific Palisade Peak Pine Pioneer Pixel Polar Prism "
    "Quantum Quartz Radiant Raven Redwood Ridge River Sable Sage Sierra Silver Slate Solar Sparrow Spruce Stellar "
    "Sterling Summit Swift Terra Tidal Timber Titan Topaz True Umbra Unity Vantage Vector Velvet Verde Vertex "
    "Vista Willow Zenith Zephyr Alder Amber Aspen Atlas Basalt Bramble Canyon Cascade Citrine Comet Copper "
    "Cypress Drift Dune Elm Fable Fathom Flint Foxglove Gild Grove Halo Hawthorn Heron Hollow Isle Kestrel"
).split()
NOUNS = (
    "Analytics Labs Systems Software Solutions Logistics Health Media Capital Dynamics Networks Robotics "
    "Foods Energy Partners Studio Works Digital Cloud Security Payments Learning Bio Design Ventures Travel "
    "Insights Data Mobility Commerce Finance Consulting Telecom Retail Industries Pharma Metrics Games Motors "
    "Apparel Logic Devices Marine Ops Craft Link Point Path Stack Grid Scale Signal Wave Bridge Hub Tech"
).split()

# Company-email local-part patterns and free-mail ones (free mail gets digits more often).
WORK_PATTERNS = ("{f}.{l}", "{f}{l}", "{fi}{l}", "{f}", "{f}_{l}", "{f}.{l}")
FREE_PATTERNS = ("{f}.{l}", "{f}{l}{n2}", "{f}.{l}{n2}", "{fi}{l}{n4}", "{l}.{f}", "{f}_{l}{n2}")


@lru_cache(maxsize=1 << 20)
def fold(s: str) -> str:
    """Accent-free casefolded form, the key for 'same name' checks."""
    d = unicodedata.normalize("NFKD", s)
    return "".join(ch for ch in d if not unicodedata.combining(ch)).casefold()


@lru_cache(maxsize=1 << 20)
def ascii_slug(s: str) -> str:
    """ASCII letters only (transliterated where we can); '' when the script has no table here."""
    out = []
    for ch in fold(s):
        if "a" <= ch <= "z":
            out.append(ch)
        elif ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
        elif ch in " -'’.":
            continue
        elif ch.isalpha():
            return ""
    return "".join(out)


def slug(s: str) -> str:
    """ASCII letters and digits only; '' when part of `s` cannot be transliterated."""
    return re.sub(r"[^a-z0-9]", "", ascii_slug(s))


@dataclass
class LocalePool:
    locale: str
    weight: float
    region: str
    free_domains: tuple[str, ...]
    tld: str
    legal: tuple[str, ...]
    first: list[str]
    last: list[str]
    first_ascii: list[str]
    last_ascii: list[str]
    aliases: list[str] = field(default_factory=list)  # ASCII handles for scripts without a table
    first_weight: list[float] = field(default_factory=list)  # how common each first name is (sums to 1)
    last_weight: list[float] = field(default_factory=list)

    @property
    def capacity(self) -> int:
        return len(self.first) * len(self.last)


# Zipf-Mandelbrot shape for lists without frequencies: weight 1 / (rank + ZIPF_Q) ** ZIPF_S.
ZIPF_S, ZIPF_Q = 1.0, 5.0


def name_weights(provider: type, attrs: tuple[str, ...], names: list[str]) -> list[float]:
    """How common each of ``names`` is: Faker's own frequencies where the locale has them (census-like
    tables such as en_US), else a Zipf-Mandelbrot law over the list's order (lists not in alphabetical order
    are ordered by frequency) or, for alphabetical lists, over a fixed order hashed from the names."""
    freq: dict[str, float] = {}
    for a in attrs:
        v = getattr(provider, a, None)
        if isinstance(v, dict):
            for k, w in v.items():
                if isinstance(w, int | float) and w > 0:
                    freq[k] = freq.get(k, 0.0) + float(w)
    if freq and all(x in freq for x in names):
        raw = [freq[x] for x in names]
    else:
        order = list(range(len(names)))
        folded = [fold(x) for x in names]
        in_order = sum(a <= b for a, b in zip(folded, folded[1:], strict=False))
        if in_order >= 0.8 * (len(names) - 1):  # alphabetical: the order says nothing about frequency
            order = sorted(order, key=lambda i: hashlib.sha256(names[i].encode()).hexdigest())
        rank = {i: r for r, i in enumerate(order)}
        raw = [1.0 / (rank[i] + ZIPF_Q) ** ZIPF_S for i in range(len(names))]
    total = sum(raw)
    return [x / total for x in raw]


def _names(provider: type, attr: str) -> list[str]:
    v = getattr(provider, attr, None) or ()
    return [x for x in dict.fromkeys(v) if x and len(x) <= 40]


@lru_cache(maxsize=1)
def locale_pools() -> list[LocalePool]:
    """Per-locale name pools (deduplicated, length-limited for Salesforce fields)."""
    pools = []
    en_first = _names(importlib.import_module("faker.providers.person.en_US").Provider, "first_names")
    for loc, weight, region, free, tld, legal in LOCALES:
        prov = importlib.import_module(f"faker.providers.person.{loc}").Provider
        first = _names(prov, "first_names")
        first_attrs: tuple[str, ...] = ("first_names",)
        if len(first) < 50:
            first = list(dict.fromkeys(_names(prov, "first_names_male") + _names(prov, "first_names_female")))
            first_attrs = ("first_names_male", "first_names_female")
        last = _names(prov, "last_names")
        fa = [ascii_slug(x) for x in first]
        la = [ascii_slug(x) for x in last]
        aliases = list(dict.fromkeys(a.lower() for a in getattr(prov, "first_romanized_names", ()) or ()))
        aliases += list(dict.fromkeys(a.lower() for a in getattr(prov, "last_romanized_names", ()) or ()))
        if not aliases:
            aliases = [x.lower() for x in en_first]
        fw = name_weights(prov, first_attrs, first)
        lw = name_weights(prov, ("last_names",), last)
        pools.append(LocalePool(loc, weight, region, free, tld, legal, first, last, fa, la, aliases, fw, lw))
    return pools
