"""What every self-contained HTML report shares: the page style and a matplotlib figure as an
embedded PNG (a data URI, so the page opens without the data, the code or a network).

Matplotlib runs on its Agg backend: no display is needed on a server or in CI.
"""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402,F401  (re-exported: the reports draw with it)

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
         "text-align:right}th{background:#f3f3f3}img{max-width:100%}.bad{color:#b00}.ok{color:#070}")


def png(fig) -> str:
    """``fig`` as an ``<img>`` with the PNG inline; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'
