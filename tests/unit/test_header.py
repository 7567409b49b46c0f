"""The report's device line says which arithmetic the runs used and, on a CPU, the bf16 instructions that chose
it, and the torch thread count; runs from before these were recorded say so rather than guess. The header says
that Stage 1-3 accuracies are means over seeds, judged against the seed-noise floor."""
from __future__ import annotations

from types import SimpleNamespace

from cifar10_study.reporting.header import _precision, header


def test_the_hardware_line_names_the_precision_and_the_cpus_bf16_instructions():
    cpu = {"precision": "bf16 autocast", "precision_setting": "auto", "cpu_bf16_instructions": ["avx512_bf16"]}
    assert _precision(cpu) == "bf16 autocast (`precision: auto`; CPU bf16 instructions: avx512_bf16)"
    plain = {"precision": "fp32", "precision_setting": "auto", "cpu_bf16_instructions": []}
    assert _precision(plain) == "fp32 (`precision: auto`; CPU bf16 instructions: none)"
    assert _precision({"precision": "bf16 autocast", "precision_setting": "auto"}) == \
        "bf16 autocast (`precision: auto`)"  # a GPU run: no CPU instructions to name
    assert _precision({}) == "precision not recorded"


def _baseline(**provenance) -> dict:
    """The Stage 1 baseline's mean record, as far as the header reads it."""
    return {"provenance": {"profile": "quick", "device": "cpu", "torch_version": "2.5.1", "data_official": True,
                           "data_counts": {"train": 45_000, "val": 5_000, "test": 10_000}, "precision": "fp32",
                           "precision_setting": "auto", **provenance},
            "config": {"train": {"epochs": 3, "train_subset": None}}, "seeds": [0, 1, 2]}


def test_the_device_line_gives_the_torch_thread_count_the_runs_recorded():
    """CPU results agree to the last digit only at the same thread count, so the report says which it was."""
    text = header(SimpleNamespace(baseline=_baseline(torch_threads=2)))
    assert "- **Device:** cpu, torch 2.5.1, 2 torch threads; fp32 (`precision: auto`)." in text
    # A run from before the count was recorded says so rather than guess.
    assert "- **Device:** cpu, torch 2.5.1, unrecorded torch threads;" in header(SimpleNamespace(baseline=_baseline()))


def test_the_header_says_accuracies_are_means_over_seeds_judged_against_the_seed_noise_floor():
    text = header(SimpleNamespace(baseline=_baseline(torch_threads=2)))
    assert ("- **Seeds:** each Stage 1-3 configuration's accuracy is the mean over its seeds (the Stage 1 baseline 3); "
            "a difference counts as an effect only beyond the seed-noise floor") in text
    one = _baseline(torch_threads=2) | {"seeds": [0]}
    assert "(the Stage 1 baseline 1)" in header(SimpleNamespace(baseline=one))
    assert "(45,000 train / 5,000 val / 10,000 test images)" in text
    assert "(Stage 1: 3 epochs, all training images)" in text
