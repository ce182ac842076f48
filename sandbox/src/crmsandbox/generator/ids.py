"""Record ids of both systems, generated vectorised and deterministically.

Salesforce: 15 case-sensitive base-62 characters (3-char key prefix, 2-char pod, zeros, a 6-char
counter) plus the 3-char case checksum of reference §13.1. Intercom: contacts and companies carry
24-hex ObjectId-style ids (4 bytes of creation time, a 5-byte constant, a 3-byte counter), while
conversations, parts, tags and admins carry numeric strings, as the wire contract says.
"""

from __future__ import annotations

import numpy as np

BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
CHECKSUM_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", dtype=np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

KEY_PREFIX = {"Account": "001", "Contact": "003", "Lead": "00Q", "Task": "00T", "Case": "500", "User": "005"}


def sf_checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-char Salesforce id case-insensitively unique."""
    out = []
    for chunk in range(3):
        bits = 0
        for j, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << j
        out.append("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits])
    return "".join(out)


def sf_ids(sobject: str, counters: np.ndarray, pod: str = "Dn") -> list[str]:
    """18-char ids for ``counters`` (distinct non-negative ints < 62**6 give distinct ids)."""
    n = len(counters)
    if n == 0:
        return []
    prefix = (KEY_PREFIX[sobject] + pod + "0000").encode()
    buf = np.empty((n, 18), dtype=np.uint8)
    buf[:, :9] = np.frombuffer(prefix, dtype=np.uint8)
    c = np.asarray(counters, dtype=np.int64).copy()
    for pos in range(14, 8, -1):
        buf[:, pos] = BASE62[c % 62]
        c //= 62
    upper = (buf[:, :15] >= ord("A")) & (buf[:, :15] <= ord("Z"))
    weights = 1 << np.arange(5)
    for chunk in range(3):
        bits = (upper[:, chunk * 5 : chunk * 5 + 5] * weights).sum(axis=1)
        buf[:, 15 + chunk] = CHECKSUM_ALPHABET[bits]
    return buf.view("S18").ravel().astype(str).tolist()


def sf_id_counters(rng: np.random.Generator, n: int) -> np.ndarray:
    """Increasing counters from a random start with small random gaps, as a real org's ids look."""
    start = int(rng.integers(62**5, 62**5 * 8))
    return start + np.cumsum(rng.integers(1, 4, size=n, dtype=np.int64))


def ic_hex_ids(created_at: np.ndarray, machine: int, counter_start: int = 0) -> list[str]:
    """ObjectId-like 24-hex ids: creation time, a constant per object type, a unique counter."""
    n = len(created_at)
    if n == 0:
        return []
    if counter_start + n > 1 << 24:
        raise ValueError("too many ids for one 3-byte counter space")
    ts = np.asarray(created_at, dtype=np.uint64)
    cnt = np.arange(counter_start, counter_start + n, dtype=np.uint64)
    nibbles = np.empty((n, 24), dtype=np.uint8)
    for i in range(8):  # 4 bytes of time
        nibbles[:, i] = (ts >> np.uint64(28 - 4 * i)) & np.uint64(15)
    for i in range(10):  # 5 bytes constant
        nibbles[:, 8 + i] = (machine >> (36 - 4 * i)) & 15
    for i in range(6):  # 3 bytes counter
        nibbles[:, 18 + i] = (cnt >> np.uint64(20 - 4 * i)) & np.uint64(15)
    return HEX[nibbles].view("S24").ravel().astype(str).tolist()


def numeric_ids(start: int, n: int, rng: np.random.Generator | None = None) -> list[str]:
    """Increasing numeric string ids (conversations, parts, admins, tags)."""
    if rng is None:
        vals = start + np.arange(n, dtype=np.int64)
    else:
        vals = start + np.cumsum(rng.integers(1, 5, size=n, dtype=np.int64))
    return vals.astype(str).tolist()
