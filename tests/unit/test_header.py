"""The report's device line says which arithmetic the runs used and, on a CPU, the bf16 instructions that chose
it; runs from before the precision was recorded say so rather than guess."""
from __future__ import annotations

from cifar10_study.reporting.header import _precision


def test_the_hardware_line_names_the_precision_and_the_cpus_bf16_instructions():
    cpu = {"precision": "bf16 autocast", "precision_setting": "auto", "cpu_bf16_instructions": ["avx512_bf16"]}
    assert _precision(cpu) == "bf16 autocast (`precision: auto`; CPU bf16 instructions: avx512_bf16)"
    plain = {"precision": "fp32", "precision_setting": "auto", "cpu_bf16_instructions": []}
    assert _precision(plain) == "fp32 (`precision: auto`; CPU bf16 instructions: none)"
    assert _precision({"precision": "bf16 autocast", "precision_setting": "auto"}) == \
        "bf16 autocast (`precision: auto`)"  # a GPU run: no CPU instructions to name
    assert _precision({}) == "precision not recorded"
