"""The training state: everything the epochs after the last completed one depend on, in one object that
saves and loads itself (as torch's modules and optimisers do), so a resume checkpoint is its state_dict."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from ..core.errors import StudyError
from .checkpoint import Checkpoint, rng_state, set_rng_state
from .distributed import World, broadcast_object

# Called after each backward pass, before the optimiser step: (global step from 0, model, loss).
# Diagnostics (diagnostics.py) record gradient norms this way; they must not sync with the host. A hook
# with a state_dict / load_state_dict (a recorder) is part of the training state.
BackwardHook = Callable[[int, nn.Module, torch.Tensor], None]


@dataclass
class TrainState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator  # the batch order (and, in one process, the augmentation)
    hooks: Sequence[BackwardHook] = ()
    epoch: int = 0  # epochs completed
    history: list[dict] = field(default_factory=list)  # one row per completed epoch
    train_seconds: float = 0.0  # wall time of the completed epochs' training steps

    def state_dict(self) -> dict:
        """The model, optimiser, schedule, every random generator's state (the run's and torch's, numpy's
        and Python's global ones), the hooks' records, and the epochs so far."""
        return {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": rng_state(self.generator),
                "history": self.history, "train_seconds": self.train_seconds,
                "hooks": [h.state_dict() if hasattr(h, "state_dict") else None for h in self.hooks]}

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        set_rng_state(saved["rng"], self.generator)
        for hook, hook_state in zip(self.hooks, saved["hooks"]):
            if hook_state is not None:
                hook.load_state_dict(hook_state)
        self.epoch, self.history, self.train_seconds = saved["epoch"], saved["history"], saved["train_seconds"]


def resume(state: TrainState, checkpoint: Checkpoint | None, run: str, world: World) -> None:
    """Load `checkpoint` into `state` on every process if it holds a run; else leave `state` at its start."""
    # Rank 0 reads the checkpoint and hands it to the others (they may run on machines without the file).
    saved = broadcast_object(checkpoint.load() if checkpoint and world.main else None, world)
    if saved is None:
        return
    try:
        state.load_state_dict(saved)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        # The key covers config, code and device, so this is a damaged file: start afresh. Only rank 0 holds
        # the checkpoint; the others name it as what rank 0 sent.
        where = checkpoint.path if checkpoint else "sent by rank 0"
        raise StudyError(f"checkpoint {where} cannot be restored ({exc}); delete it and rerun") from None
    if world.main:
        print(f"resuming {run} from epoch {state.epoch + 1} (checkpoint {checkpoint.path})", file=sys.stderr)
