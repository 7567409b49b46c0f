"""What to record during a run: per-step loss and gradient norm, per-layer gradient norms.

Recorders are `on_backward(step, model, loss)` callbacks for engine.train(). They keep what they record
on the training device as tensors and read it back once, after training, so they add no host sync.
Their summaries (overfitting, stability) are analysis: analysis/diagnostics.py reads the files they fill.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn


class StepRecorder:
    """Training loss and global gradient L2 norm (before the optimiser step) at every step.

    Each step appends two 0-d tensors on the training device; reading them (a checkpoint, the final
    table) stacks them there and copies once. A resumed run's earlier records come back as `_earlier`.
    """

    def __init__(self):
        self.losses: list[torch.Tensor] = []
        self.grad_norms: list[torch.Tensor] = []
        self._earlier = (torch.empty(0), torch.empty(0))  # CPU [steps] each, from a checkpoint

    def __call__(self, step: int, model: nn.Module, loss: torch.Tensor) -> None:
        self.losses.append(loss.detach().float())
        self.grad_norms.append(torch.nn.utils.get_total_norm([p.grad for p in model.parameters()
                                                              if p.grad is not None]))

    def _stacked(self) -> tuple[torch.Tensor, torch.Tensor]:
        """[steps] CPU float tensors: the earlier records, then this process's (one transfer each)."""
        return tuple(torch.cat([earlier, torch.stack(new).float().cpu()]) if new else earlier
                     for earlier, new in zip(self._earlier, (self.losses, self.grad_norms)))

    def state_dict(self) -> dict:  # saved in training checkpoints
        losses, grad_norms = self._stacked()
        return {"losses": losses, "grad_norms": grad_norms}

    def load_state_dict(self, state: dict) -> None:
        self._earlier = (state["losses"].float(), state["grad_norms"].float())
        self.losses, self.grad_norms = [], []

    def frame(self) -> pd.DataFrame:
        losses, grad_norms = self._stacked()
        return pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": losses.numpy(),
                             "grad_norm": grad_norms.numpy()})


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The weight tensors of conv and linear layers, input to output (module registration order)."""
    return [(f"{name}.weight", m.weight) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class LayerGradRecorder:
    """Gradient L2 norm of every conv/linear weight at chosen steps (step 0 = at initialisation)."""

    def __init__(self, model: nn.Module, steps: list[int]):
        self.layers = weight_layers(model)
        self.steps = set(steps)
        self.records: dict[int, torch.Tensor] = {}

    def __call__(self, step: int, model: nn.Module, loss: torch.Tensor) -> None:
        if step in self.steps:
            self.records[step] = torch.stack([w.grad.detach().float().norm() for _, w in self.layers])

    def state_dict(self) -> dict:  # saved in training checkpoints
        return {"records": {step: t.cpu() for step, t in self.records.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.records = dict(state["records"])

    def frame(self) -> pd.DataFrame:
        rows = []
        for step, norms in sorted(self.records.items()):
            for index, ((name, _), norm) in enumerate(zip(self.layers, norms.cpu().numpy()), start=1):
                rows.append({"step": step, "layer": index, "name": name, "grad_norm": float(norm)})
        return pd.DataFrame(rows, columns=["step", "layer", "name", "grad_norm"])
