"""Tables drawn from models: the per-layer parameter table of Stage 1."""
from __future__ import annotations

import pandas as pd
from torch import nn

from ..training.measure import forward_one_image


def parameter_table(model: nn.Module) -> pd.DataFrame:
    """One row per module that owns parameters: name, type, output shape, parameter count and share,
    closed by a total row. Output shapes come from an eval-mode forward pass on one image."""
    shapes: dict[str, list[int]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: shapes.__setitem__(name, list(out.shape[1:])))
             for name, m in model.named_modules() if name]
    try:
        forward_one_image(model)
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if own:
            rows.append({"layer": name, "type": type(module).__name__,
                         "output_shape": "x".join(map(str, shapes.get(name, []))), "params": own})
    table = pd.DataFrame(rows)
    total = int(table["params"].sum())
    table["share_%"] = (100 * table["params"] / total).round(2)
    total_row = pd.DataFrame([{"layer": "total", "type": "", "output_shape": "", "params": total, "share_%": 100.0}])
    return pd.concat([table, total_row], ignore_index=True)
