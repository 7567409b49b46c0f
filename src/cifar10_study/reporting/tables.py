"""Tables of the report built from what the runs recorded: the per-layer parameter table of Stage 1."""
from __future__ import annotations

import pandas as pd


def parameter_table(layers: list[dict]) -> pd.DataFrame:
    """A run's recorded layers (info.json "layers": layer, type, output_shape, parameters) with each one's
    share of the total, closed by a total row."""
    table = pd.DataFrame(layers)
    total = int(table["parameters"].sum())
    table["share_%"] = (100 * table["parameters"] / total).round(2)
    total_row = pd.DataFrame([{"layer": "total", "type": "", "output_shape": "", "parameters": total,
                               "share_%": 100.0}])
    return pd.concat([table, total_row], ignore_index=True)
