"""Build-time assets of the reports, fetched from their package registry at `make setup`, pinned and checked.

plotly's official *basic* partial bundle (bar, pie and scatter traces; 1.2 MB instead of the full 4.8 MB) comes
from the npm package ``plotly.js-basic-dist-min``, pinned to the plotly.js version the pinned plotly writes
figures for, and verified by the tarball's sha256. It lands in the virtualenv, not in the repository. Without
it (offline setup, another plotly), pages carry the full bundle from the plotly package instead.

    python -m syncaudit.report.assets      # fetch (no-op when present); exits 0 with a note when it cannot
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
from pathlib import Path

PLOTLY_BASIC = {
    "url": "https://registry.npmjs.org/plotly.js-basic-dist-min/-/plotly.js-basic-dist-min-4.1.1.tgz",
    "sha256": "ea907f854b6cec4f6a2fa71540ec019a21ed2c61e6a109ddd5c072103a96eed0",
    "members": {"package/plotly-basic.min.js": "plotly-basic.min.js", "package/LICENSE": "plotly-basic.LICENSE"},
}


def assets_dir() -> Path:
    """Where fetched assets live: the running environment's share/syncaudit (the project's .venv)."""
    return Path(sys.prefix) / "share" / "syncaudit"


def fetch_plotly_basic(target: Path | None = None) -> Path:
    """Download, verify and unpack the pinned basic bundle into ``target``; returns the bundle's path."""
    import requests

    from syncaudit.fsutil import atomic_write
    from syncaudit.http import verified_session

    target = target or assets_dir()
    bundle = target / "plotly-basic.min.js"
    if bundle.is_file():
        return bundle
    resp = verified_session().get(PLOTLY_BASIC["url"], timeout=60)
    resp.raise_for_status()
    digest = hashlib.sha256(resp.content).hexdigest()
    if digest != PLOTLY_BASIC["sha256"]:
        raise requests.RequestException(f"sha256 mismatch for {PLOTLY_BASIC['url']}: got {digest}")
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(resp.content), mode="r:gz") as tar:
        for member, name in PLOTLY_BASIC["members"].items():
            data = tar.extractfile(member)
            if data is None:
                raise requests.RequestException(f"{member} missing from {PLOTLY_BASIC['url']}")
            atomic_write(target / name, data.read())  # complete or absent, never half-written
    return bundle


def main() -> int:
    try:
        path = fetch_plotly_basic()
    except Exception as exc:  # noqa: BLE001 - an optional size optimisation must never fail the setup
        print(f"note: plotly basic bundle not fetched ({exc}); reports will inline the full plotly.js", file=sys.stderr)
        return 0
    print(f"plotly basic bundle: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
