"""Valid phone numbers per region, unique per person, written in the formats people really use.

Numbers come from prefixes derived from libphonenumber's example numbers whose completions were
checked valid, so an E.164 normaliser accepts every planted-clean number. National formats (no
country code) are used only for US numbers, where a default region is the common assumption.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import phonenumbers as pn

SUFFIX_DIGITS = 4
FORMATS = ("e164", "intl", "intl_dots", "national", "intl_paren")


@dataclass(frozen=True)
class RegionNumbers:
    region: str
    country_code: int
    prefixes: tuple[str, ...]  # national significant number minus the last 4 digits
    templates: tuple[dict[str, str], ...]  # per prefix: format -> template with 4 '{}' holes


def _template(formatted: str) -> str:
    """Replace the last four digits of a formatted number with '{}' holes."""
    chars = list(formatted.replace("{", "").replace("}", ""))
    holes = 0
    for i in range(len(chars) - 1, -1, -1):
        if chars[i].isdigit():
            chars[i] = "{}"
            holes += 1
            if holes == SUFFIX_DIGITS:
                break
    return "".join(chars)


def prefixes_needed(n: int, cap: int = 120) -> int:
    """Enough prefixes that `n` numbers fill at most a third of the space (a few for small runs), at most
    ``cap`` (higher for org pairs of many millions)."""
    need = -(-3 * n // 10**SUFFIX_DIGITS)
    return max(4, min(cap, need))


_CACHE: dict[str, tuple[RegionNumbers, bool]] = {}


def region_numbers(region: str, max_prefixes: int = 4) -> RegionNumbers:
    """At least `max_prefixes` prefixes (when the region has them), computed once, extended on demand.

    Candidates are enumerated in a fixed order, so the first k prefixes never depend on how many
    were asked for; callers use only the count they asked for, which keeps output deterministic.
    """
    have = _CACHE.get(region)
    if have is None or (len(have[0].prefixes) < max_prefixes and not have[1]):
        rn = _compute(region, max(max_prefixes, 4))
        _CACHE[region] = (rn, len(rn.prefixes) < max(max_prefixes, 4))
    return _CACHE[region][0]


def _compute(region: str, max_prefixes: int) -> RegionNumbers:
    """Prefixes whose sampled 4-digit completions are valid numbers (mobile and fixed line)."""
    cc = pn.country_code_for_region(region)
    prefixes: list[str] = []
    templates: list[dict[str, str]] = []
    # two varied digits first; three only when that is not enough (so the first prefixes never change)
    rounds = [(kind, 2) for kind in (pn.PhoneNumberType.MOBILE, pn.PhoneNumberType.FIXED_LINE)]
    rounds += [(kind, 3) for kind in (pn.PhoneNumberType.MOBILE, pn.PhoneNumberType.FIXED_LINE)]
    for kind, width in rounds:
        ex = pn.example_number_for_type(region, kind)
        if ex is None:
            continue
        nsn = pn.national_significant_number(ex)
        if width == 3 and len(nsn) <= 7:
            continue
        for k in range(10**width):
            if width == 2:
                cand = nsn[:-6] + f"{k:02d}" if len(nsn) > 6 else nsn[:-4]
            else:
                cand = nsn[:-7] + f"{k:03d}"
            prefix = cand[: len(nsn) - SUFFIX_DIGITS]
            if prefix in prefixes:
                continue
            ok = True
            for suffix in ("0000", "9999"):
                num = pn.parse(f"+{cc}{prefix}{suffix}")
                if not pn.is_valid_number(num):
                    ok = False
                    break
            if not ok:
                continue
            sample = pn.parse(f"+{cc}{prefix}0000")
            intl = pn.format_number(sample, pn.PhoneNumberFormat.INTERNATIONAL)
            tpl = {
                "e164": _template(pn.format_number(sample, pn.PhoneNumberFormat.E164)),
                "intl": _template(intl),
                "intl_dots": _template(
                    intl.replace(" ", ".").replace("-", ".").replace("+" + str(cc) + ".", f"+{cc} ")
                ),
                "intl_paren": _template(intl),
                "national": _template(pn.format_number(sample, pn.PhoneNumberFormat.NATIONAL)),
            }
            if region == "US":
                tpl["intl_paren"] = _template(f"+1 ({prefix[:3]}) {prefix[3:6]}-0000")
            prefixes.append(prefix)
            templates.append(tpl)
            if len(prefixes) >= max_prefixes:
                break
        if len(prefixes) >= max_prefixes:
            break
    if not prefixes:
        raise RuntimeError(f"no valid phone prefixes for region {region}")
    return RegionNumbers(region, cc, tuple(prefixes), tuple(templates))


def draw_numbers(rng: np.random.Generator, region: str, n: int, n_prefixes: int) -> tuple[np.ndarray, np.ndarray]:
    """n distinct (prefix index, 4-digit suffix) pairs for a region, from its first `n_prefixes`."""
    rn = region_numbers(region, n_prefixes)
    space = min(n_prefixes, len(rn.prefixes)) * 10**SUFFIX_DIGITS
    if n > space:
        raise ValueError(f"region {region} has room for {space} numbers, asked for {n}")
    codes = rng.choice(space, size=n, replace=False) if n > space // 4 else _distinct(rng, space, n)
    return codes // 10**SUFFIX_DIGITS, codes % 10**SUFFIX_DIGITS


def _distinct(rng: np.random.Generator, space: int, n: int) -> np.ndarray:
    out = np.unique(rng.integers(0, space, size=int(n * 1.1) + 8))
    while len(out) < n:
        out = np.unique(np.concatenate([out, rng.integers(0, space, size=n)]))
    return rng.permutation(out)[:n]


def format_number(region: str, prefix_idx: int, suffix: int, fmt: str) -> str:
    """Render one number; 'national' falls back to international outside the US."""
    tpl = _CACHE[region][0].templates[prefix_idx]
    if fmt == "national" and region != "US":
        fmt = "intl"
    return tpl[fmt].format(*f"{suffix:04d}")
