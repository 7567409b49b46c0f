"""One run trained by several processes (torchrun + DistributedDataParallel), on CPU with gloo: the work is
split without overlap, the processes end with the same model, a step sees the gradient of the whole
global batch, and only rank 0 writes. (The CUDA path, NCCL, is the same code; gpu_check runs one process.)"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from cifar10_study.core.errors import ConfigError
from cifar10_study.training.distributed import (
    SINGLE,
    World,
    chunk_bounds,
    epoch_shard,
    first_error,
    local_batch_size,
)
from cifar10_study.training.recipe import TrainConfig
from helpers import ROOT

TESTS = ROOT / "tests"


def test_the_shards_of_every_step_are_disjoint_and_are_exactly_its_global_batch():
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(0))
    steps = 5  # 320 of the 1000 indices used, the rest beyond the last step
    for size in (1, 2, 4):
        local = 64 // size
        shards = [epoch_shard(order, steps, 64, World(rank, size)).view(steps, local) for rank in range(size)]
        for step in range(steps):
            assert torch.equal(torch.cat([s[step] for s in shards]), order[step * 64:(step + 1) * 64])
    assert torch.equal(epoch_shard(order, steps, 64, SINGLE), order[:320])


def test_evaluation_chunks_cover_every_image_once():
    for n, size in ((10, 3), (7, 7), (1000, 4), (3, 4)):
        bounds = chunk_bounds(n, World(0, size))
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert max(e - s for s, e in bounds) - min(e - s for s, e in bounds) <= 1


@pytest.mark.parametrize("stderr", [
    "W1203 torchrun warning\nerror: batch_size 32 does not split\nerror: batch_size 32 does not split\nTraceback ...\n",
    # two processes' lines run together on the one pipe (seen in an e2e run of the three-process failure)
    "error: batch_size 32 does not spliterror: batch_size 32 does not split\n",
])
def test_the_user_reads_the_first_processs_message_once(stderr):
    assert first_error(stderr) == "batch_size 32 does not split"


def test_no_error_line_is_no_message():
    assert first_error("Traceback (most recent call last):\n  ChildFailedError: ...\n") is None


def test_a_batch_that_does_not_split_over_the_processes_is_a_clear_error():
    with pytest.raises(ConfigError, match="batch_size 30 does not split over runtime.processes = 4"):
        local_batch_size(30, World(0, 4))
    assert local_batch_size(32, World(1, 4)) == 8


SCRIPT = textwrap.dedent("""
    import sys
    import torch
    sys.path.insert(0, {tests!r})
    from helpers import learnable_splits
    from cifar10_study.training.recipe import TrainConfig
    from cifar10_study.models.baseline import BaselineCNNConfig
    from cifar10_study.training import distributed
    from cifar10_study.training.engine import train
    from cifar10_study.core.layout import RunFiles
    from cifar10_study.training.train_run import build_seeded, train_run

    torch.use_deterministic_algorithms(True)
    # fp32: the gradient identity tested below (two half-batch means average to the whole batch's) holds to
    # fp32 rounding; bf16 autocast on a CPU that has it would round each half differently.
    from cifar10_study.training.device import use_precision
    use_precision("fp32")
    world = distributed.from_environment()
    distributed.start(world, "cpu")
    cpu, out = torch.device("cpu"), {out!r}
    model_cfg = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)  # no batch norm
    cfg = TrainConfig.model_validate({cfg!r})
    grads = {{}}

    def first_step(step, model, loss):
        if step == 0:
            grads.update({{n: p.grad.clone() for n, p in model.named_parameters()}})

    model = build_seeded(model_cfg, 0)
    result = train(model, learnable_splits(), cfg, device=cpu, world=world, on_backward=(first_step,))
    torch.save({{"grads": grads, "state": model.state_dict(), "history": result.history,
                "predictions": torch.from_numpy(result.test.predictions)}}, f"{{out}}/rank{{world.rank}}.pt")
    train_run("demo", model_cfg, cfg, learnable_splits(), profile="smoke", device=cpu, world=world,
              files=RunFiles(__import__("pathlib").Path(out) / f"files_rank{{world.rank}}"))
    distributed.stop(world)
""")
RECIPE = {"epochs": 2, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
          "schedule": {"name": "cosine"}, "augment": {"crop_padding": 0, "flip": False}, "seed": 0}


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> dict:
    """The same run trained by torchrun with 2 processes; each process's model, first-step gradients, history."""
    out = tmp_path_factory.mktemp("ddp")
    script = out / "train_two.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), out=str(out), cfg=RECIPE))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                             str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"out": out, **{rank: torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)}}


def test_both_processes_end_with_the_same_model_history_and_predictions(two_processes):
    a, b = two_processes[0], two_processes[1]
    assert a["state"].keys() == b["state"].keys()
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    untimed = [[{k: v for k, v in row.items() if k != "epoch_seconds"} for row in h]
               for h in (a["history"], b["history"])]
    assert untimed[0] == untimed[1] and torch.equal(a["predictions"], b["predictions"])
    assert len(a["predictions"]) == 64  # every test image once, gathered from both shards


def test_a_step_on_two_processes_has_the_gradient_of_one_process_with_the_whole_batch(two_processes):
    from cifar10_study.models.baseline import BaselineCNNConfig
    from cifar10_study.training.device import use_precision
    from cifar10_study.training.engine import train
    from cifar10_study.training.train_run import build_seeded
    from helpers import learnable_splits

    grads = {}

    def first_step(step, model, loss):
        if step == 0:
            grads.update({n: p.grad.clone() for n, p in model.named_parameters()})

    use_precision("fp32")  # as the two processes train (SCRIPT)
    model = build_seeded(BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32), 0)
    train(model, learnable_splits(), TrainConfig.model_validate({**RECIPE, "epochs": 1}), device=torch.device("cpu"),
          on_backward=(first_step,))
    ddp = two_processes[0]["grads"]
    assert grads.keys() == ddp.keys()
    for name in grads:  # the mean of two half-batch means is the whole batch's mean, up to float rounding
        torch.testing.assert_close(ddp[name], grads[name], rtol=1e-5, atol=1e-7)


def test_only_rank_0_writes_the_run(two_processes):
    out = two_processes["out"]
    assert (out / "files_rank0" / "results.json").is_file() and not (out / "files_rank1").exists()
    info = (out / "files_rank0" / "info.json").read_text()
    assert '"count": 2' in info and '"batch_per_process": 16' in info
