"""cifar10_study.gpu_results: the README's GPU results are generated from the sets tools/gpu_study.sh returned, and
the committed README shows exactly that block."""
from __future__ import annotations

import io
import json
import tarfile

from cifar10_study import gpu_results
from cifar10_study.core.params_file import read_params_file
from helpers import ROOT

PARAMS = {"stage4": {"seeds": {"seed_0": ["full", "preview"], "seed_1": ["full"], "seed_2": ["full", "smoke"]}}}


def _returned_set(folder, profile, stages, runs, official=False, concurrent=1):
    """A folder as gpu_study.sh writes it: environment.json, a study.tar.gz of run files and, when the whole
    pipeline ran, summary.md."""
    folder.mkdir(parents=True)
    (folder / "environment.json").write_text(json.dumps(
        {"profile": profile, "device": "cuda", "gpu": "NVIDIA H200", "stages": stages, "dvc_repro_status": 0,
         "dvc_repro_seconds": 412, "concurrent": concurrent}))
    if stages == "all":
        (folder / "summary.md").write_text(f"| stage | test accuracy |\n|---|---|\n| 4 | 93.10% ({profile}) |\n")
    with tarfile.open(folder / "study.tar.gz", "w:gz") as tar:
        for k, run in enumerate(runs):
            files = {"results.json": {"test_accuracy": 0.931 + k / 100, "epochs": 200, "train_images": 50_000},
                     "info.json": {"provenance": {"data_official": official}}}
            if k == 0:  # timing.json: only where the run trained (a run restored from the cache has none)
                files["timing.json"] = {"steady_epoch_seconds": 1.234, "train_seconds": 252.0}
            for name, content in files.items():
                payload = json.dumps(content).encode()
                info = tarfile.TarInfo(f"runs/{run}/{name}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return folder


def test_each_set_is_described_with_its_own_table_and_what_the_full_study_still_lacks(tmp_path):
    _returned_set(tmp_path / "2026-12-04-h200-preview", "preview", "all", ["stage1", "stage4/seed_0"])
    _returned_set(tmp_path / "2026-12-05-h100-full-runs", "full", ["stage4@seed_0", "stage5@seed_0"],
                  ["stage4/seed_0", "stage5/seed_0"], concurrent=2)
    text = gpu_results.block(tmp_path, PARAMS)
    preview, full, missing = text.split("\n\n")[0], text.split("\n\n")[2], text.split("\n\n")[-1]
    assert preview.startswith("**`2026-12-04-h200-preview`**: NVIDIA H200, profile `preview`, every stage;")
    assert "exited 0 after 412 s; data: not the official archive (the JPEG stand-in)." in preview
    assert "| 4 | 93.10% (preview) |" in text  # the whole pipeline's own table, as returned
    assert "`stage4@seed_0`, `stage5@seed_0`, 2 at once;" in full
    # named runs: a row per run, from its own files (no timing where the run was restored, not trained)
    assert "| `stage4/seed_0` | 93.10% | 200 x 50,000 | 1.23 s | 4.2 min |" in text
    assert "| `stage5/seed_0` | 94.10% | 200 x 50,000 | n/a | n/a |" in text
    # 3 full-profile seeds x 5 configurations; only the full-profile set's runs count, the preview one's do not
    assert missing == ("Of the full study's 15 ResNet-18 runs (200 epochs; Stage 4, Stage 5 and its ablations for "
                       "each full-profile seed), 2 have run on a GPU: stage4/seed_0, stage5/seed_0.")


def test_a_folder_without_a_sets_files_is_not_a_set(tmp_path):
    (tmp_path / "2026-11-26-h200-1").mkdir()  # a gpu_check result: other files
    (tmp_path / "2026-11-26-h200-1" / "gpu_check.json").write_text("{}")
    assert gpu_results.study_sets(tmp_path) == []
    assert gpu_results.block(tmp_path, PARAMS).startswith("No GPU run of the pipeline has been returned yet")


def test_the_readme_shows_the_generated_gpu_results():
    committed = gpu_results.block(ROOT / gpu_results.RESULTS, read_params_file(ROOT / "params.yaml"))
    assert gpu_results.readme_block(ROOT / gpu_results.README) == committed, "run: ./run.sh readme"
