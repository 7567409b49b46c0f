"""Each training step's loss and correct count, kept on the training device through an epoch and read once
at its end: no host synchronisation inside a CUDA epoch, and a non-finite loss still found at its step."""
from __future__ import annotations

import math

import torch

from ..core.errors import TrainingDiverged
from .device import settings_for
from .distributed import SINGLE, World, all_min, all_sum, total_over_processes


class StepTally:
    """Each step's training loss and correct count, written into the step's slot on the device (one small
    copy a step, no host synchronisation, nothing decided per step on the host) and summed at the epoch's
    end; there too the first non-finite loss of any process is found. In one CPU process, where a
    synchronisation costs nothing (DeviceSettings.free_host_reads), a non-finite loss stops the run at once
    instead."""

    def __init__(self, steps: int, batch: int, device: torch.device, world: World = SINGLE):
        self.batch = batch  # this process's images a step
        self.losses = torch.zeros(steps, device=device)
        self.correct = torch.zeros(steps, device=device, dtype=torch.long)
        self.stop_at_once, self.world = settings_for(device).free_host_reads and not world.distributed, world

    def record(self, step: int, loss: torch.Tensor, correct: torch.Tensor, run: str, epoch: int) -> None:
        self.losses[step] = loss
        self.correct[step] = correct
        if self.stop_at_once and not torch.isfinite(loss):
            self._raise(run, epoch, step, float(loss))

    def first_bad_step(self) -> int:
        """The epoch's first step (from 0) with a non-finite loss on any process; -1 if none."""
        bad = (~torch.isfinite(self.losses)).nonzero()
        mine = int(bad[0, 0]) if len(bad) else -1
        if not self.world.distributed:
            return mine
        never = torch.iinfo(torch.long).max
        first = int(all_min(torch.tensor(mine if mine >= 0 else never, device=self.losses.device), self.world).item())
        return -1 if first == never else first

    def _raise(self, run: str, epoch: int, step: int, loss: float) -> None:
        steps = len(self.losses)
        raise TrainingDiverged(run, epoch=epoch, step=(epoch - 1) * steps + step + 1, loss=loss)

    def totals(self, run: str, epoch: int) -> tuple[float, int]:
        """(summed loss x images, correct images) over the epoch and every process; raises TrainingDiverged
        at the first non-finite loss (its value where this process had it, else NaN)."""
        step = self.first_bad_step()
        if step >= 0:
            mine = float(self.losses[step])  # finite if another process had the bad loss: then NaN is reported
            self._raise(run, epoch, step, mine if not math.isfinite(mine) else float("nan"))
        # Added up in step order in float64, on the host: a vectorised sum rounds differently once the losses
        # span more than float64 holds exactly (an exploding run; tested).
        loss_sum = total_over_processes(self.losses * self.batch, self.world)
        return loss_sum, int(all_sum(self.correct.sum(), self.world).item())
