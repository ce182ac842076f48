"""The pinned Node clients (jsforce 3, the Salesforce CLI and the Node 22 they need), installed on first use.

``npm ci`` runs in sandbox/tests/node/ when node_modules/ is missing or was installed from another
package-lock.json (a stamp holds the lock's hash), under a file lock so parallel workers install once.
npm's download cache stays outside the repository (npm's default, ~/.npm, or $NPM_CONFIG_CACHE).
A fresh install takes about 45 s (379 MB, mostly the CLI); later runs reuse it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).parent / "node"
STAMP = NODE_DIR / "node_modules" / ".crmsandbox-lock.sha256"


def _lock_hash() -> str:
    return hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()


def ensure_node_clients() -> Path:
    """Install the pinned Node clients when needed; return the node_modules/.bin folder."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: the Node conformance tests need Node.js and npm (apt install npm)")
    with open(NODE_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = _lock_hash()
        if not STAMP.exists() or STAMP.read_text().strip() != wanted:
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"npm ci failed in {NODE_DIR}:\n{proc.stderr[-3000:]}")
            STAMP.write_text(wanted)
    return NODE_DIR / "node_modules" / ".bin"


def node_env(bin_dir: Path, ca_cert: str, home: Path) -> dict[str, str]:
    """An environment for the Node clients: their Node first on PATH, the sandbox CA trusted, a private HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFDX_"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        NODE_EXTRA_CA_CERTS=ca_cert,
        HOME=str(home),
        SF_DISABLE_TELEMETRY="true",
        SF_AUTOUPDATE_DISABLE="true",
        SF_USE_GENERIC_UNIX_KEYCHAIN="true",
        SF_SKIP_NEW_VERSION_CHECK="true",
        SF_HIDE_RELEASE_NOTES="true",
    )
    return env
