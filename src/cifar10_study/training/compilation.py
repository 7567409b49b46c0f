"""What the training steps call: the model itself, or torch.compile(model) where the device compiles (CUDA),
with a count of what Dynamo really compiled for the run."""
from __future__ import annotations

import torch
from torch import nn

from .device import settings_for
from .runtime import CompileMode


def _dynamo_counts() -> dict[str, int]:
    """Dynamo's and inductor's own tallies, cumulative over the process."""
    from torch._dynamo.utils import counters

    return {"graphs": counters["stats"]["unique_graphs"], "graph_breaks": sum(counters["graph_break"].values()),
            # inductor's count of graphs it ran without CUDA graphs in a CUDA-graph mode (and why, in its log)
            "cudagraph_skips": counters["inductor"]["cudagraph_skips"]}


class TrainForward:
    """What the training steps call: the model itself, or torch.compile(model, mode=...) where the device
    compiles (CUDA; device.py says why not elsewhere). The compiled wrapper shares the parameters, so
    checkpoints and saved weights keep using `model`'s own state_dict keys.
    `stats()` counts what Dynamo really compiled for this run, so a skipped frame or an eager fallback
    is not reported as compiled.
    """

    CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")

    def __init__(self, model: nn.Module, mode: CompileMode, device: torch.device):
        self.mode = mode if settings_for(device).compiles else "off"
        if self.mode == "off":
            self._call = model
        else:
            # Dynamo's caches outlive a model: a second run of the same architecture in this process could
            # reuse the first one's graphs and count none. A reset makes each run's count its own.
            import torch._dynamo

            torch._dynamo.reset()
            self._call = torch.compile(model, mode=None if self.mode == "default" else self.mode)
        self._start = _dynamo_counts()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode in self.CUDA_GRAPH_MODES:
            # A new iteration: the graphs may now overwrite the previous step's outputs (all consumed).
            torch.compiler.cudagraph_mark_step_begin()
        return self._call(x)

    def stats(self) -> dict:
        now = _dynamo_counts()
        return {"mode": self.mode, **{k: now[k] - self._start[k] for k in now}}
