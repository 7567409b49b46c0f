"""How to run, not what to compute (params.yaml `runtime`): device, torch.compile, evaluation batch,
checkpoint interval, processes. No DVC stage declares these keys, so changing one reruns nothing."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..core.schema import NonNegativeFloat, PositiveInt, Section

# torch.compile modes for the training forward pass ("off": eager). "reduce-overhead" and "max-autotune"
# also replay the compiled forward and backward as CUDA graphs (one launch instead of hundreds per step).
CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune"]


class RuntimeConfig(Section):
    """How to run, not what to compute: settings that change speed, never a CPU result. No DVC stage
    declares them, so changing one reruns nothing; every run records them in its info.json."""

    # auto: CUDA when present, else MPS (Apple silicon), else the CPU; device.py says what each one runs.
    # At a profile meant for a GPU, auto never falls back to the CPU silently (cpu_guard.py): cpu insists.
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # CUDA only; on CPU and MPS training is always eager (recorded as not compiled). reduce-overhead: ResNet-18
    # trained 2.4x faster than eager on an H200, while the default mode was slower than eager there
    # (benchmarks/results/, docs/gpu.md).
    compile: CompileMode = "reduce-overhead"
    # CUDA: only networks of at least this many parameters (as runs record them) are compiled; smaller ones
    # train eager. A small CNN's step is cheap either way, and its compile warm-up (seconds a run, every run
    # a process) would cost more than it saves at the preview and full schedules. The Stage 1-3 CNNs
    # (0.3-1.4 M) train eager, ResNet-18 (11.2 M) compiled. Reasoned from the ResNet-18 figures, not yet
    # measured for small CNNs.
    compile_min_parameters: int = Field(2_000_000, ge=0)
    eval_batch_size: PositiveInt = 1000  # images per evaluation forward pass
    # Resume checkpoints: at most one per this many seconds of training, plus the last epoch; 0 = every epoch.
    checkpoint_interval_seconds: NonNegativeFloat = 60.0
    # Processes that train one run together (torchrun + DistributedDataParallel; the recipe's batch is
    # split between them). 1: a plain process. On CUDA, one GPU each.
    processes: PositiveInt = 1
    sync_batchnorm: bool = False  # CUDA with processes > 1: batch-norm statistics over all processes' batches
    # CUDA: raise at any host synchronisation inside an epoch's training steps (after a compiled run's
    # first, warm-up epoch). A debugging aid the CUDA tests use; off costs nothing.
    check_syncs: bool = False

    def compile_mode_for(self, parameters: int) -> CompileMode:
        """The compile mode of a network of `parameters` parameters (measure.count_parameters)."""
        return self.compile if parameters >= self.compile_min_parameters else "off"
