"""The training device and what runs on it: which device `runtime.device` resolves to, and per device
type the memory layout, precision, compilation and optimiser kernels the engine uses there.

| device | layout        | precision (`precision: auto`)      | torch.compile | fused optimiser | deterministic |
| ------ | ------------- | ---------------------------------- | ------------- | --------------- | ------------- |
| cuda   | channels_last | bf16 autocast                      | as configured | yes             | no            |
| mps    | contiguous    | fp32                               | never (eager) | no              | no            |
| cpu    | channels_last | bf16 autocast if the CPU has bf16  | never (eager) | no              | yes           |
|        |               | instructions (AMX, AVX512-BF16),   |               |                 |               |
|        |               | else fp32                          |               |                 |               |

params.yaml's `precision: fp32` trains and evaluates in IEEE fp32 on every device: no bf16 autocast, and on
CUDA no TF32 either (torch lets cuDNN convolutions use TF32 by default). The precision changes the numbers, so
every training stage declares the key; each run records the precision it used (info.json), and `evaluate` and
`predict` evaluate a run in it (use_precision("bf16") forces the bf16 autocast a run recorded).

No tensor of the training, evaluation or prediction path is float64: MPS has none. Sums that need float64
(a loss over an epoch) are added up on the host, in Python floats (distributed.total_over_processes).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Literal

import torch
from torch import nn

from ..core.errors import ConfigError
from .distributed import SINGLE, World
from .runtime import RuntimeConfig


@dataclass(frozen=True)
class DeviceSettings:
    """How the engine trains on one device type."""

    # channels_last (NHWC) is the fast layout for convolutions on CUDA tensor cores, and on this project's
    # 2-core x86 CPU it measured faster too (training step, images/s, channels_last vs contiguous NCHW:
    # Stage 1 CNN 1,993 vs 1,655, ResNet-18 56 vs 46; `python benchmarks/train_throughput.py` prints the
    # comparison on the machine at hand). On MPS, channels_last convolution backward passes are reported
    # much slower than contiguous ones, so MPS keeps the contiguous layout.
    channels_last: bool
    # bf16 autocast where it is fast: tensor cores (CUDA), and CPUs with bf16 instructions (a training step
    # 1.7-2.8x faster than fp32 on the 2-core machines measured, docs/benchmarks.md; on a CPU without them
    # bf16 is emulated and slower than fp32). MPS's bf16 support varies by macOS version: fp32.
    bf16: Literal["always", "with cpu instructions", "never"]
    # torch.compile only on CUDA: on CPU inductor's kernels are not covered by use_deterministic_algorithms
    # (CPU results must reproduce exactly), and MPS support in inductor is partial.
    compiles: bool
    fused_optimizer: bool  # one kernel launch steps every parameter (CUDA only)
    deterministic: bool  # the same params and seed give identical results (CPU)
    # Whether reading a value on the host costs nothing (the CPU): then a non-finite loss stops a run at its
    # step; on a GPU the epoch's losses are read once, at its end (step_tally.py).
    free_host_reads: bool


SETTINGS = {
    "cuda": DeviceSettings(channels_last=True, bf16="always", compiles=True, fused_optimizer=True, deterministic=False,
                           free_host_reads=False),
    "mps": DeviceSettings(channels_last=False, bf16="never", compiles=False, fused_optimizer=False,
                          deterministic=False, free_host_reads=False),
    "cpu": DeviceSettings(channels_last=True, bf16="with cpu instructions", compiles=False, fused_optimizer=False,
                          deterministic=True, free_host_reads=True),
}

# params.yaml `precision`: auto uses each device's bf16 rule above; fp32 turns bf16 and TF32 off everywhere.
Precision = Literal["auto", "fp32"]
# What a process may also be set to in order to evaluate a run as it trained: "bf16" is bf16 autocast on any
# device that autocasts (the CPU with or without bf16 instructions, CUDA), whatever the CPU's instructions.
EvalPrecision = Literal["auto", "fp32", "bf16"]
# The precision this process trains and evaluates in, set once by init_device from params.yaml (like
# torch's deterministic-algorithms switch, it holds for the whole process).
_precision: EvalPrecision = "auto"


def settings_for(device: torch.device) -> DeviceSettings:
    return SETTINGS[device.type]


def cpu_bf16_instructions() -> list[str]:
    """The CPU's bf16 matrix instructions that oneDNN uses (AMX tiles, AVX512-BF16), as torch reports them."""
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()
    return [name for name in ("amx_bf16", "avx512_bf16") if capabilities.get(name)]


def autocast_dtype(device: torch.device, precision: EvalPrecision | None = None) -> torch.dtype | None:
    """bf16 where `precision` (default: this process's, set by init_device) and the device's rule give it,
    else None (fp32)."""
    precision = precision or _precision
    rule = settings_for(device).bf16
    if precision == "fp32" or rule == "never":
        return None
    return torch.bfloat16 if precision == "bf16" or rule == "always" or cpu_bf16_instructions() else None


def use_precision(precision: EvalPrecision) -> None:
    """Train and evaluate in `precision` from here on, in this process (init_device calls it); TF32 is off
    under fp32 and as torch ships it otherwise."""
    global _precision
    _precision = precision
    ieee = precision == "fp32"
    torch.backends.cuda.matmul.fp32_precision = "ieee" if ieee else TF32_DEFAULTS["matmul"]
    torch.backends.cudnn.conv.fp32_precision = "ieee" if ieee else TF32_DEFAULTS["cudnn_conv"]


def current_precision() -> EvalPrecision:
    """This process's precision (use_precision), e.g. to hand to a process it starts."""
    return _precision


def tf32_record() -> dict:
    """Whether fp32 matmuls and cuDNN convolutions may use TF32 on CUDA ("tf32") or not ("ieee"; "none" is
    torch's own default, IEEE for matmuls)."""
    return {"matmul": torch.backends.cuda.matmul.fp32_precision,
            "cudnn_conv": torch.backends.cudnn.conv.fp32_precision}


# torch's TF32 settings for fp32 matmuls and cuDNN convolutions on NVIDIA GPUs, as this torch ships them, read at
# import before anything changes them: `auto` keeps them, `fp32` sets both to IEEE ("ieee").
TF32_DEFAULTS = tf32_record()


def precision_record(device: torch.device) -> dict:
    """What a run records of its precision: the arithmetic used, on a CPU the bf16 instructions that chose it,
    on CUDA the TF32 settings of its fp32 operations."""
    record = {"precision": "bf16 autocast" if autocast_dtype(device) else "fp32", "precision_setting": _precision}
    if device.type == "cpu":
        record["cpu_bf16_instructions"] = cpu_bf16_instructions()
    if device.type == "cuda":
        record["tf32"] = tf32_record()
    return record


def mps_available() -> bool:
    """Apple silicon's GPU (Metal Performance Shaders) through an MPS build of torch."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def why_no_gpu() -> str:
    """Why torch finds no GPU here, in words a user can act on: a CPU-only build of torch, or a CUDA build
    that finds no device (driver, CUDA_VISIBLE_DEVICES)."""
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is a CPU-only build (a GPU needs a CUDA build, or MPS on a Mac)"
    return (f"this torch ({torch.__version__}), a CUDA {torch.version.cuda} build, finds no CUDA device "
            f"(check the driver with nvidia-smi, and CUDA_VISIBLE_DEVICES)")


def device_type_for(requested: str) -> str:
    """The device type `runtime.device` resolves to: auto picks CUDA, then MPS, then the CPU. Asking for a
    GPU that torch cannot see is a one-line ConfigError."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"runtime.device is cuda, but {why_no_gpu()}; set runtime.device to auto or cpu")
    if requested == "mps" and not mps_available():
        raise ConfigError("runtime.device is mps, but torch sees no MPS device (Apple silicon with an MPS build of "
                          "torch); set runtime.device to auto or cpu")
    return requested


def init_device(runtime: RuntimeConfig = RuntimeConfig(), world: World = SINGLE,
                precision: EvalPrecision = "auto") -> torch.device:
    """The training device for a stage, from `runtime.device`; with several processes, each its own GPU
    (torchrun's LOCAL_RANK). `precision` (params.yaml) holds for the whole process (autocast_dtype).

    CPU: every op is made deterministic, so the same params and seed give identical metrics.
    CUDA: cuDNN autotuning on; every step has the same shapes, so the algorithm search runs once per
    layer shape, in the first steps, and the fastest kernels are kept.
    MPS: one process only (torch has no process-group backend for it).
    """
    use_precision(precision)
    kind = device_type_for(runtime.device)
    if kind == "cuda":
        torch.cuda.set_device(world.local_rank)
        torch.backends.cudnn.benchmark = True
        return torch.device("cuda", world.local_rank)
    if kind == "mps":
        if world.distributed:
            raise ConfigError("runtime.processes > 1 needs CUDA or the CPU: torch cannot share a run between "
                              "processes on MPS; set runtime.processes to 1")
        return torch.device("mps")
    torch.use_deterministic_algorithms(True)
    return torch.device("cpu")


def autocast(device: torch.device):
    """bf16 autocast for the block where this process uses it on `device` (autocast_dtype), else full fp32."""
    dtype = autocast_dtype(device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def to_memory_format(x: torch.Tensor | nn.Module, device: torch.device):
    """A model, or a 4-d batch, in the device's memory layout: channels_last where it is faster, else the
    contiguous NCHW layout, whatever layout it came in (the augmentation's crop hands back channels_last)."""
    layout = torch.channels_last if settings_for(device).channels_last else torch.contiguous_format
    if isinstance(x, nn.Module):
        return x.to(memory_format=layout)
    return x.contiguous(memory_format=layout) if x.dim() == 4 else x


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (GPUs run asynchronously), so wall times cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@contextlib.contextmanager
def no_syncs_allowed(device: torch.device, enabled: bool) -> Iterator[None]:
    """With `enabled` on CUDA, any host synchronisation inside the block raises (torch's sync debug mode)."""
    if not enabled or device.type != "cuda":
        yield
        return
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")
