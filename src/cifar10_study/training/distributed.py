"""One run trained by several processes: torchrun starts them, DistributedDataParallel keeps their models
equal. This module says who this process is (from torchrun's environment) and holds the few collective
operations the engine needs. Started without torchrun, the world is one process, nothing here
communicates, and the engine computes exactly what it always did.

How the work is split, per epoch: every process draws the same seeded permutation of the training set;
each global batch of the recipe's batch_size is cut into world-size contiguous shards, one per process
(so the global batch, and therefore the recipe, is unchanged); each process augments its shard with its
own generator, seeded from (seed, rank, epoch). DDP averages the gradients, so a step sees the global
batch's mean loss. Evaluation splits the images the same way and sums the counts; only rank 0 writes.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ..core.errors import ConfigError, StudyError


@dataclass(frozen=True)
class World:
    rank: int = 0  # this process, 0..size-1
    size: int = 1  # processes training the run
    local_rank: int = 0  # this process on its machine: its GPU index

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def from_environment() -> World:
    """The world torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK; one process without torchrun."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return SINGLE
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def start(world: World, device_type: str) -> None:
    """Join the process group: NCCL between GPUs, gloo between CPU processes."""
    if world.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", rank=world.rank, world_size=world.size)


def stop(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def relaunch_under_torchrun(processes: int) -> None:
    """Run this same command as `torchrun --standalone --nproc-per-node <processes>` and exit with its
    status, unless this process already is one of torchrun's workers (or one process was asked for).

    A process that fails makes torchrun stop the others; what reaches the user is that process's own
    one-line error (a StudyError), not torchrun's multi-line report."""
    if processes == 1 or "WORLD_SIZE" in os.environ:
        return
    sys.stdout.flush()
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             f"--nproc-per-node={processes}", *sys.argv], stderr=subprocess.PIPE, text=True)
    if result.returncode == 0:
        sys.stderr.write(result.stderr)
        sys.exit(0)
    error = first_error(result.stderr)
    raise StudyError(error or f"torchrun with {processes} processes failed (exit status {result.returncode}); "
                     f"rerun with runtime.processes: 1 to see the error")


def first_error(stderr: str) -> str | None:
    """The first `error: <message>` line the processes printed, without the prefix. Processes that fail at
    once write to the one pipe together, so one line may hold two messages run together ("...itserror: ..."):
    a message ends where the next `error: ` begins."""
    for line in stderr.splitlines():
        if line.startswith("error: "):
            return line.removeprefix("error: ").split("error: ")[0].strip()
    return None


def local_batch_size(batch_size: int, world: World) -> int:
    """Each process's share of the recipe's (global) batch."""
    if batch_size % world.size:
        raise ConfigError(f"batch_size {batch_size} does not split over runtime.processes = {world.size}; "
                          f"choose a process count that divides it")
    return batch_size // world.size


def epoch_shard(order: torch.Tensor, steps: int, batch_size: int, world: World) -> torch.Tensor:
    """This process's indices for every step of an epoch, step after step: for each step, its contiguous
    share of the step's global batch order[step * batch_size:(step + 1) * batch_size]. The shares of all
    ranks are disjoint and together are exactly that global batch."""
    local = local_batch_size(batch_size, world)
    per_step = order[:steps * batch_size].view(steps, batch_size)
    return per_step[:, world.rank * local:(world.rank + 1) * local].reshape(-1)


def augmentation_seed(seed: int, world: World, epoch: int) -> int:
    """A seed for this process's augmentation generator in `epoch`: different per rank (each shard gets its
    own crops and flips), and a function of the epoch so a resumed run draws exactly what it would have."""
    return int(np.random.SeedSequence([seed, world.rank, epoch]).generate_state(1)[0])


def all_sum(tensor: torch.Tensor, world: World) -> torch.Tensor:
    """The tensor summed over every process (in place), for counts and loss sums."""
    if world.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def total_over_processes(values: torch.Tensor, world: World) -> float:
    """The sum of this process's 1-d `values` (on any device, copied to the host once), added left to right
    in float64 as a running float64 total on the device would add them, to the last bit (Python 3.12's
    sum() compensates and math.fsum rounds once: both differ), then summed over every process. Only a
    reduction between processes puts a float64 tensor on the device (CUDA or the CPU; never MPS, which has
    no float64 and runs one process)."""
    total = 0.0
    for value in values.tolist():
        total += value
    if not world.distributed:
        return total
    shared = torch.tensor(total, dtype=torch.float64, device=values.device)
    dist.all_reduce(shared, op=dist.ReduceOp.SUM)
    return shared.item()


def all_min(tensor: torch.Tensor, world: World) -> torch.Tensor:
    if world.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return tensor


def gather_chunks(chunk: torch.Tensor, sizes: list[int], world: World) -> torch.Tensor:
    """Every process's 1-D `chunk` (rank r's has sizes[r] elements), concatenated in rank order."""
    if not world.distributed:
        return chunk
    padded = torch.zeros(max(sizes), dtype=chunk.dtype, device=chunk.device)
    padded[:len(chunk)] = chunk
    gathered = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n] for g, n in zip(gathered, sizes)])


def broadcast_object(value, world: World):
    """Rank 0's `value` (any picklable object, e.g. a checkpoint) on every process."""
    if not world.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def broadcast_buffers(model: torch.nn.Module, world: World) -> None:
    """Rank 0's buffers (batch-norm running statistics) on every process, so all evaluate one model, the
    one rank 0 saves. With plain batch norm each process updates them from its own shard."""
    if world.distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def chunk_bounds(n: int, world: World) -> list[tuple[int, int]]:
    """[start, end) of each rank's contiguous share of n items (the first n % size ranks get one more)."""
    base, extra = divmod(n, world.size)
    bounds, start = [], 0
    for rank in range(world.size):
        end = start + base + (rank < extra)
        bounds.append((start, end))
        start = end
    return bounds
