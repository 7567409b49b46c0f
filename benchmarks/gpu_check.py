"""The measuring half of `tools/gpu_check.sh` (which also installs missing wheels and runs the CUDA
tests); see that script for the whole check.

    python benchmarks/gpu_check.py prepare-data            # make data/prepared if it is missing
    python benchmarks/gpu_check.py measure OUT_DIR --deadline UNIX_SECONDS [--pytest-log FILE]
                                          [--variants off default reduce-overhead] [--no-recipe-run]

`measure` writes, refreshing them after every phase so a cut-off run still leaves what it measured:
  OUT_DIR/gpu_check.json      environment, CUDA tests' summary, throughput per variant, the recipe run,
                              and the full-profile time estimated from the measured epoch time
  OUT_DIR/throughput.csv      one row per variant
  OUT_DIR/stage4_history.csv  the recipe run, one row per epoch
  OUT_DIR/profile.csv         the profiled steps' GPU kernels, copies and memsets, largest device time first
Phases: (1) environment and a bf16 matrix-product rate (the practical peak); (2) ResNet-18 training
throughput with the project's engine over the full 50,000 training images at batch 128, for each
torch.compile variant (eager, default, CUDA graphs via "reduce-overhead"), each timed over 3 epochs:
the first pays compile / autotune / graph capture, the median of the others is the steady epoch;
(3) Stage 5's network and recipe (SE-ResNet-18 + MixUp + Cutout as params.yaml's stage5 switches set
them) in the fastest variant, for the Stage 5 estimate;
(4) torch.profiler over 20 steady steps of the fastest variant: GPU time per step against wall time;
(5) one ResNet-18 run with the Stage 4 recipe on all 50,000 training images, in the fastest variant, for
as many epochs as the time left holds (cosine over those); its final-epoch test accuracy (10,000 images).
Every recipe is the full profile's, read from params.yaml by the stages' own functions
(experiments/stage4.recipe and stage5.recipe: at present SGD 0.1, momentum 0.9, weight decay 5e-4, batch
128, crop + flip, cosine to 0, 200 epochs, on all 50,000 training images via stage4.full's
train_on_validation), whatever profile params.yaml selects; only the epochs are the check's own, and the
images trained on are the recipe's (engine.run_splits).

--smoke --device cpu runs the same code on a small network and random images in seconds (the tests
use it, so the script cannot rot between GPU runs).
"""
from __future__ import annotations

import argparse
import math
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from cifar10_study.components.stage5_components import STAGE5_COMPONENTS
from cifar10_study.core.fileio import write_json
from cifar10_study.data import cifar10
from cifar10_study.data.cifar10 import Split, Splits, load_splits, prepare
from cifar10_study.experiments import stage4, stage5
from cifar10_study.models.residual import ResidualCNNConfig
from cifar10_study.params import Params, load_params
from cifar10_study.training import engine
from cifar10_study.training.device import init_device
from cifar10_study.training.measure import count_parameters, flops_per_image
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.runtime import RuntimeConfig
from cifar10_study.training.train_run import build_seeded

REPO = Path(__file__).resolve().parent.parent
PREPARED = REPO / cifar10.PREPARED
# Where an archive in the official layout is looked for, in order, when data/prepared is missing.
ARCHIVES = [REPO / "data/raw/cifar-10-python.tar.gz"]
# Where the JPEG stand-in and its builder are looked for (../shared/data on the project's machines;
# .gpu-data/ is the copy carried to a GPU machine without network, see docs/gpu.md).
STAND_IN_DIRS = [REPO / ".gpu-data", REPO.parent / "shared/data"]
VARIANTS = ("off", "default", "reduce-overhead")  # runtime.compile modes timed in phase 2
# Dense bf16 tensor-core rate without sparsity, from NVIDIA's datasheets (SXM parts), TFLOP/s.
DATASHEET_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}


def log(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- data ---------------------------------------------------------------------------------------------

def prepare_data() -> None:
    """data/prepared from the first archive found, else from the JPEG stand-in (built to data/raw)."""
    if (PREPARED / "meta.json").is_file():
        log(f"data: using {PREPARED}")
        return
    archive = next((a for a in ARCHIVES if a.is_file()), None)
    if archive is None:
        stand_in = next((d for d in STAND_IN_DIRS if (d / "cifar10-jpeg.tar.gz").is_file()), None)
        if stand_in is None:
            sys.exit(f"gpu_check: no CIFAR-10 data: expected {PREPARED}, an archive at "
                     f"{', '.join(map(str, ARCHIVES))}, or cifar10-jpeg.tar.gz + make_cifar10_archive.py in "
                     f"{' or '.join(map(str, STAND_IN_DIRS))}")
        archive = ARCHIVES[0]
        log(f"data: building {archive} from the JPEG stand-in in {stand_in}")
        subprocess.run([sys.executable, str(stand_in / "make_cifar10_archive.py"), str(archive)], check=True)
    data_cfg = load_params(REPO / "params.yaml").data
    meta = prepare(str(archive), PREPARED, data_cfg.val_size, data_cfg.split_seed)
    log(f"data: prepared {meta['counts']} from {archive} (official: {meta['official']})")


def prepared_data(device: torch.device, smoke: bool) -> Splits:
    """The prepared train, validation and test splits on `device`; which of them a run trains on is its
    recipe's (engine.run_splits). Smoke: 640 random images, 448 / 64 / 128."""
    if smoke:
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (640, 3, 32, 32), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, 10, (640,), generator=g)
        host = Splits(*(Split(images[a:b], labels[a:b]) for a, b in ((0, 448), (448, 512), (512, 640))),
                      meta={"source": "random pixels (smoke)"})
    else:
        host = load_splits(PREPARED, "cpu")
    return host.to(device)


def train_images(data: Splits, cfg: TrainConfig) -> int:
    """How many images a run with `cfg` trains on, as engine.train selects them."""
    return len(engine.run_splits(data, cfg)[0])


# --- measurements -------------------------------------------------------------------------------------

def environment(device: torch.device) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "device": device.type,
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    if device.type != "cuda":
        return env
    props = torch.cuda.get_device_properties(device)
    env.update(gpu=props.name, compute_capability=f"{props.major}.{props.minor}",
               gpu_memory_gib=round(props.total_memory / 2**30, 1), multiprocessors=props.multi_processor_count)
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,power.limit",
                              "--format=csv,noheader"], capture_output=True, text=True)
        env["nvidia_smi"] = smi.stdout.strip()
    env["bf16_matmul_tflops"] = bf16_matmul_tflops(device)
    env["datasheet_bf16_tflops"] = next((v for k, v in DATASHEET_BF16_TFLOPS.items() if k in props.name), None)
    return env


def bf16_matmul_tflops(device: torch.device, n: int = 8192, repeats: int = 10) -> float:
    """The practical bf16 peak: an n x n x n matrix product on random data, timed with CUDA events."""
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        a @ b
    end.record()
    torch.cuda.synchronize(device)
    return 2 * n**3 * repeats / (start.elapsed_time(end) / 1e3) / 1e12


def full_params() -> Params:
    """params.yaml at the full profile (the published recipes), whichever profile the file selects."""
    return load_params(REPO / "params.yaml").model_copy(update={"profile": "full"})


def recipe(params: Params, epochs: int, smoke: bool, stage5_run: bool = False) -> TrainConfig:
    """Stage 4's recipe (or Stage 5's, with its switches as set) at `params`' profile, for `epochs` epochs;
    smoke: batch 64."""
    cfg = stage5.recipe(params, stage5.switches(params)) if stage5_run else stage4.recipe(params)
    return TrainConfig.model_validate({**cfg.model_dump(), "epochs": epochs, **({"batch_size": 64} if smoke else {})})


def model_config(params: Params, smoke: bool, stage5_run: bool = False):
    """ResNet-18 (Stage 4) or Stage 5's network; smoke: a small residual CNN, with SE as Stage 5 sets it."""
    if not smoke:
        # Stage 4's network is fixed in code, not in params (experiments/stage4.py trains this one).
        return stage5.model_config(params, stage5.switches(params)) if stage5_run else stage4.MODEL
    se = stage5_run and stage5.switches(params)["se"]
    return ResidualCNNConfig(name="residual_cnn", channels=[8, 16], se_reduction=4 if se else None)


def stage5_name(params: Params, name: str) -> str:
    """The Stage 5 variant's name from its switches, e.g. se_resnet18+mixup+cutout."""
    on = stage5.switches(params)
    return ("se_" if on["se"] else "") + name + "".join(f"+{c}" for c in ("mixup", "cutout") if on[c])


def forced(mode: str) -> RuntimeConfig:
    """The check times each compile mode as asked, whatever the network's size (runtime.compile_min_parameters
    would leave a small smoke network eager)."""
    return RuntimeConfig(compile=mode, compile_min_parameters=0)


def timed_variant(name: str, model_cfg, cfg: TrainConfig, data: Splits, device: torch.device, mode: str,
                  peak_tflops: float | None) -> dict:
    """Train `cfg.epochs` epochs, no test evaluation; the first epoch's extra time is the warm-up."""
    model = build_seeded(model_cfg, 0)
    train_flops = 3 * flops_per_image(model)  # forward + backward (inputs and weights), per image
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result = engine.train(model, data, cfg, device=device, run=name, evaluate_test=False,
                          runtime=forced(mode))
    row = {"variant": name, "compile": mode, "parameters": count_parameters(model), "epochs": cfg.epochs,
           "images_per_epoch": result.images_per_epoch, "first_epoch_seconds": result.first_epoch_seconds,
           "steady_epoch_seconds": result.steady_epoch_seconds, "warmup_seconds": result.warmup_seconds,
           "images_per_second": result.images_per_second, "compiled": result.compiled, **{
               f"compile_{k}": v for k, v in result.compile.items() if k != "mode"},
           "train_tflops": result.images_per_second * train_flops / 1e12,
           "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None}
    row["fraction_of_peak"] = row["train_tflops"] / peak_tflops if peak_tflops else None
    return row


def profile_steps(model_cfg, cfg: TrainConfig, data: Splits, device: torch.device, mode: str,
                  steps: int = 20) -> tuple[dict, pd.DataFrame]:
    """Device time per training step, from torch.profiler over `steps` steady steps of epoch 2: with the
    measured wall time per step it says whether a step waits on the GPU (busy near 1) or the host."""
    from torch.profiler import ProfilerActivity, profile, schedule

    steps_per_epoch = train_images(data, cfg) // cfg.batch_size
    steps = min(steps, steps_per_epoch - 4)  # all inside epoch 2 (smoke epochs are short)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    plan = schedule(wait=steps_per_epoch + 1, warmup=2, active=steps, repeat=1)
    with profile(activities=activities, schedule=plan) as prof:
        engine.train(build_seeded(model_cfg, 0), data, cfg, device=device, run="profile", evaluate_test=False,
                     runtime=forced(mode), on_backward=(lambda step, model, loss: prof.step(),))
    events = prof.key_averages()
    # Kernels, copies and memsets are events of their own on the device; CPU ops are listed apart (their
    # "device time" repeats their kernels' time, so only the device events are summed).
    # The profiler's own step annotations ("ProfilerStep#n") show up as device events spanning each step.
    kernels = pd.DataFrame([{"name": e.key, "calls": e.count, "device_ms": e.self_device_time_total / 1e3}
                            for e in events if e.device_type == torch.autograd.DeviceType.CUDA
                            and not e.key.startswith("ProfilerStep")],
                           columns=["name", "calls", "device_ms"]).sort_values("device_ms", ascending=False)
    host_ms = sum(e.cpu_time_total for e in events if e.key.startswith("ProfilerStep")) / 1e3
    return {"steps": steps, "device_ms_per_step": kernels["device_ms"].sum() / steps,
            "host_ms_per_step_profiled": host_ms / steps, "kernels_per_step": kernels["calls"].sum() / steps,
            "top_kernels": kernels.head(5).to_dict("records")}, kernels


def stage4_run(model_cfg, cfg: TrainConfig, data: Splits, device: torch.device, mode: str) -> tuple[dict, list]:
    model = build_seeded(model_cfg, 0)
    result = engine.train(model, data, cfg, device=device, run="stage4-recipe", runtime=forced(mode))
    summary = {"epochs": cfg.epochs, "compile": mode, "train_images": train_images(data, cfg),
               "test_images": len(result.test.labels),
               "test_accuracy": result.test.accuracy, "test_loss": result.test.loss,
               "final_train_accuracy": result.history[-1]["train_acc"], "train_seconds": result.train_seconds,
               "steady_epoch_seconds": result.steady_epoch_seconds, "warmup_seconds": result.warmup_seconds,
               "images_per_second": result.images_per_second, "compiled": result.compiled,
               "recipe": cfg.model_dump()}
    return summary, result.history


def full_profile_estimate(steady_50k: float, stage5_ratio: float | None, seeds: int, epochs: int) -> dict:
    """GPU time of the full profile's ResNet runs (`seeds` seeds of `epochs` epochs) from the measured steady
    epoch over the images the full recipe trains on (all 50,000 training images, stage4.full's
    train_on_validation); evaluation adds a few percent, not included."""
    stage4_seconds = seeds * epochs * steady_50k
    out = {"epoch_seconds": steady_50k, "stage4_run_hours": epochs * steady_50k / 3600,
           "stage4_hours": stage4_seconds / 3600}
    if stage5_ratio is not None:
        # stage5 (SE + MixUp + Cutout), no_mixup and no_cutout (SE), no_se (plain): bounded by the SE ratio
        out["stage5_and_ablations_hours"] = (1 + len(STAGE5_COMPONENTS)) * stage4_seconds * stage5_ratio / 3600
        out["stage4_and_5_hours"] = out["stage4_hours"] + out["stage5_and_ablations_hours"]
    return out


def pytest_summary(log_path: Path | None) -> dict:
    if log_path is None or not log_path.is_file():
        return {"ran": False}
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    last = next((line for line in reversed(lines) if " in " in line and ("passed" in line or "failed" in line
                                                                       or "error" in line)), None)
    rc = next((line.split("=", 1)[1] for line in reversed(lines) if line.startswith("exit_status=")), None)
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return {"ran": True, "summary": last.strip("= ") if last else None, "exit_status": rc, "failures": failed}


# --- driver -------------------------------------------------------------------------------------------

class Report:
    """The results so far, rewritten after every phase."""

    def __init__(self, out: Path):
        self.out, self.data = out, {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        out.mkdir(parents=True, exist_ok=True)

    def update(self, **items) -> None:
        self.data.update(items)
        write_json(self.out / "gpu_check.json", self.data)


# Time budgets, in seconds of the check's deadline: a phase starts only if what it needs is left.
RECIPE_RESERVE_S = 120  # kept back for the recipe run, so that it trains at least a few epochs
NO_RECIPE_RESERVE_S = 10  # kept back when there is no recipe run (writing the report)
VARIANT_S = {"off": 30}  # a variant's 3 epochs when eager ...
COMPILED_VARIANT_S = 90  # ... and compiled: compile adds ~20 s for ResNet-18 on an H200
STAGE5_MARGIN_S = 30  # Stage 5's variant: 2 warm-ups (its compile) + 3 steady epochs + this
PROFILE_MARGIN_S = 20  # the profile: a warm-up + 2 steady epochs + this
RECIPE_OVERHEAD_S = 20  # the recipe run's loading and test evaluation
STEADY_EPOCH_MARGIN = 1.05  # each recipe epoch budgeted at the steady epoch plus 5%
THROUGHPUT_EPOCHS = 3  # the first pays the warm-up; the median of the other two is the steady epoch


class Check:
    """One `measure` call: its deadline and output, the data, and the errors so far. Each phase is a method
    that starts only when its budget is left, records its figures in the report as soon as it has them,
    and on a failure records the error and lets the next phase run (each phase's figures stand alone)."""

    def __init__(self, out: Path, deadline: float, device: torch.device, smoke: bool, recipe_run: bool):
        self.out, self.deadline, self.device, self.smoke = out, deadline, device, smoke
        self.report, self.params, self.errors, self.rows = Report(out), full_params(), {}, []
        self.reserve = RECIPE_RESERVE_S if recipe_run else NO_RECIPE_RESERVE_S
        self.name = "small_residual_cnn(smoke)" if smoke else "resnet18"
        self.peak, self.data = None, None

    def left(self) -> float:
        return math.inf if self.smoke else self.deadline - time.time()

    def attempt(self, key: str, phase):
        try:
            return phase()
        except Exception as exc:
            self.errors[key] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log(f"{key} FAILED: {self.errors[key]}")
            self.report.update(errors=self.errors)
            return None

    def setup(self, pytest_log: Path | None) -> None:
        """Phase 1: the CUDA tests' summary, the environment with its bf16 rate, the data."""
        self.report.update(cuda_tests=pytest_summary(pytest_log))
        env = environment(self.device)
        self.report.update(environment=env)
        log(f"environment: {env}")
        self.peak = env.get("bf16_matmul_tflops")
        self.data = prepared_data(self.device, self.smoke)
        self.report.update(data={"source": self.data.meta.get("source"), "official": self.data.meta.get("official"),
                                 "train_images": train_images(self.data, recipe(self.params, 1, self.smoke)),
                                 "test_images": len(self.data.test)})

    def throughput(self, variants: list[str]) -> dict | None:
        """Phase 2: each compile variant's steady epoch; the fastest that really ran as asked, or None."""
        for mode in variants:
            if self.left() < VARIANT_S.get(mode, COMPILED_VARIANT_S) + self.reserve:
                self.errors[f"{self.name}/{mode}"] = "skipped: not enough time left"
                continue
            row = self.attempt(f"{self.name}/{mode}", lambda: timed_variant(
                f"{self.name}/{mode}", model_config(self.params, self.smoke),
                recipe(self.params, THROUGHPUT_EPOCHS, self.smoke), self.data, self.device, mode, self.peak))
            if row:
                self.rows.append(row)
                log(f"throughput {row['variant']}: steady epoch {row['steady_epoch_seconds']:.2f} s, "
                    f"{row['images_per_second']:,.0f} images/s, warm-up {row['warmup_seconds']:.1f} s")
            self._write_rows()
        usable = [r for r in self.rows if r["compile"] == "off" or r["compiled"]]
        if not usable:
            log("no variant trained: nothing more to measure")
            return None
        best = min(usable, key=lambda r: r["steady_epoch_seconds"])
        self.report.update(fastest_variant=best["variant"])
        return best

    def stage5(self, best: dict) -> None:
        """Phase 3: Stage 5's network and augmentation in the fastest variant, then the full-profile estimate."""
        ratio, mode = None, best["compile"]
        if self.left() > 2 * best["warmup_seconds"] + 3 * best["steady_epoch_seconds"] + self.reserve + STAGE5_MARGIN_S:
            row = self.attempt("se_resnet18", lambda: timed_variant(
                f"{stage5_name(self.params, self.name)}/{mode}", model_config(self.params, self.smoke, stage5_run=True),
                recipe(self.params, THROUGHPUT_EPOCHS, self.smoke, stage5_run=True), self.data, self.device, mode,
                self.peak))
            if row:
                self.rows.append(row)
                ratio = row["steady_epoch_seconds"] / best["steady_epoch_seconds"]
                log(f"throughput {row['variant']}: steady epoch {row['steady_epoch_seconds']:.2f} s "
                    f"({ratio:.2f}x ResNet-18)")
            self._write_rows()
        self.report.update(full_profile_estimate=full_profile_estimate(
            best["steady_epoch_seconds"], ratio, len(stage4.seeds(self.params)), stage4.recipe(self.params).epochs))

    def profile(self, best: dict) -> None:
        """Phase 4: torch.profiler over steady steps of the fastest variant: GPU time against wall time."""
        if self.left() <= best["warmup_seconds"] + 2 * best["steady_epoch_seconds"] + self.reserve + PROFILE_MARGIN_S:
            return
        cfg = recipe(self.params, 2, self.smoke)
        profiled = self.attempt("profile", lambda: profile_steps(model_config(self.params, self.smoke), cfg,
                                                                 self.data, self.device, best["compile"]))
        if not profiled:
            return
        summary, table = profiled
        summary["wall_ms_per_step"] = 1e3 * best["steady_epoch_seconds"] / (best["images_per_epoch"] / cfg.batch_size)
        summary["device_busy_fraction"] = summary["device_ms_per_step"] / summary["wall_ms_per_step"]
        table.head(60).to_csv(self.out / "profile.csv", index=False)
        self.report.update(profile={"variant": best["variant"], **summary})
        log(f"profile {best['variant']}: {summary['device_ms_per_step']:.2f} ms of GPU work per step of "
            f"{summary['wall_ms_per_step']:.2f} ms")

    def recipe_run(self, best: dict) -> bool:
        """Phase 5: the Stage 4 recipe for as many epochs as the time left holds: the loading and the test
        evaluation, the warm-up again (at most half the measured one: Dynamo recompiles, but inductor's
        kernels come from its on-disk cache by now), and each epoch at the steady time plus a margin."""
        full_epochs = stage4.recipe(self.params).epochs
        budget = self.left() - RECIPE_OVERHEAD_S - best["warmup_seconds"] / 2
        epochs = 2 if self.smoke else min(full_epochs, math.floor(
            budget / (STEADY_EPOCH_MARGIN * best["steady_epoch_seconds"])))
        if epochs < 2:
            self.report.update(stage4_recipe_run={"skipped": f"only {budget:.0f} s left"})
            return False
        cfg, mode = recipe(self.params, epochs, self.smoke), best["compile"]
        log(f"stage 4 recipe: {epochs} epochs on {train_images(self.data, cfg):,} images, compile={mode}")
        ran = self.attempt("stage4_recipe_run", lambda: stage4_run(model_config(self.params, self.smoke), cfg,
                                                                   self.data, self.device, mode))
        if ran:
            summary, history = ran
            pd.DataFrame(history).to_csv(self.out / "stage4_history.csv", index=False)
            self.report.update(stage4_recipe_run=summary)
            log(f"stage 4 recipe: test accuracy {summary['test_accuracy']:.4f} after {epochs} epochs, "
                f"{summary['train_seconds']:.0f} s of training")
        return True

    def _write_rows(self) -> None:
        pd.DataFrame(self.rows).to_csv(self.out / "throughput.csv", index=False)
        self.report.update(throughput=self.rows, errors=self.errors)


def measure(out: Path, deadline: float, device: torch.device, smoke: bool, pytest_log: Path | None,
            variants: list[str], recipe_run: bool) -> int:
    """The phases in order (module docstring); exit status 0 when every phase ran without an error."""
    check = Check(out, deadline, device, smoke, recipe_run)
    check.setup(pytest_log)
    best = check.throughput(variants)
    if best is None:
        return 1
    check.stage5(best)
    check.profile(best)
    if recipe_run and not check.recipe_run(best):
        return 1
    check.report.update(finished=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    return 1 if check.errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare-data", help="make data/prepared if missing")
    m = sub.add_parser("measure", help="environment, throughput, the Stage 4 recipe run")
    m.add_argument("out", type=Path)
    m.add_argument("--deadline", type=float, required=True, help="unix time by which to have finished")
    m.add_argument("--pytest-log", type=Path, help="the CUDA tests' output, summarised into the JSON")
    m.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    m.add_argument("--smoke", action="store_true", help="a small network on random images (tests, CPU)")
    m.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                   help="runtime.compile modes to time (default: all)")
    m.add_argument("--no-recipe-run", dest="recipe_run", action="store_false", help="skip phase 5")
    args = parser.parse_args()
    if args.command == "prepare-data":
        prepare_data()
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA device; run this on a machine with an NVIDIA GPU")
    device = init_device(RuntimeConfig(device=args.device))
    if device.type == "cpu":
        torch.use_deterministic_algorithms(False)  # a measurement, not a stage: no need for the CPU guarantee
    sys.exit(measure(args.out, args.deadline, device, args.smoke, args.pytest_log, args.variants, args.recipe_run))


if __name__ == "__main__":
    main()
