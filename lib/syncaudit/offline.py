"""Offline hygiene, applied once at import of the CLI and the notebooks.

- Great Expectations usage statistics / analytics are switched off.
- plotly renders figures as self-contained HTML with the library inlined,
  which survives papermill and nbconvert (plotly's default renderer emits a
  mimetype nbconvert drops, and the CDN variant needs the internet).
"""

from __future__ import annotations

import os


def configure_offline() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GE_USAGE_STATS", "FALSE")
    os.environ.setdefault("MPLBACKEND", "Agg")


def configure_plotly() -> None:
    """Make plotly figures display offline in notebooks and in exported HTML."""
    import plotly.io as pio

    # "notebook_connected" fetches plotly.js from a CDN; "notebook" inlines it once
    # per notebook and emits text/html that nbconvert keeps.
    pio.renderers.default = "notebook"


configure_offline()
