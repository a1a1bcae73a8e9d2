"""One figure of a benchmark, beside the floor it is read against, as one machine-readable line.

Every benchmark prints its human report as before and, for each headline figure, a line
``FIGURE {json}`` that ``bench/report.py`` collects into one table. Kept tiny on purpose: a
benchmark stays runnable on its own, and the report is only a reader of what it prints.
"""

from __future__ import annotations

import json


def figure(name: str, value: float, unit: str, *, floor_name: str | None = None, floor: float | None = None,
           better: str = "higher", note: str = "") -> None:
    """Prints one figure. ``better`` says which way is good (``higher`` for rates, ``lower`` for
    latencies), so the report's ratio reads "share of the floor" either way."""
    print("FIGURE " + json.dumps({"name": name, "value": value, "unit": unit, "floor_name": floor_name,
                                  "floor": floor, "better": better, "note": note}, ensure_ascii=False),
          flush=True)
