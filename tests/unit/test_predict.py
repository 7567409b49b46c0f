"""Using a trained run: the predict and evaluate commands on a tiny run trained for real, the one preprocessing
rule for image files, and one `error:` line with exit status 2 for every bad input."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cifar10_study import evaluate, predict
from cifar10_study.core.fileio import read_json
from cifar10_study.core.layout import RunFiles
from cifar10_study.data import CLASSES
from cifar10_study.data.augment import normalize
from cifar10_study.data.cifar10 import load_splits, prepare
from cifar10_study.data.images import read_image
from cifar10_study.models.baseline import BaselineCNNConfig
from cifar10_study.run_folder import load_run
from cifar10_study.training import evaluation
from cifar10_study.training.device import autocast
from cifar10_study.training.recipe import TrainConfig
from cifar10_study.training.train_run import save_weights, train_run
from helpers import ROOT, write_archive

CPU = torch.device("cpu")
MODEL = BaselineCNNConfig(name="baseline_cnn", channels=[8, 16], hidden=32)
OTHER = BaselineCNNConfig(name="baseline_cnn", channels=[4], hidden=16)
PER_BATCH = 60  # images per batch file: 300 training (50 of them validation), 60 test
TEST_SUBSET = 40  # the run's own test images: fewer than the 60, so --all-test-images differs


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, RunFiles]:
    """(prepared data folder, run files): a run trained on that folder's splits, as a stage trains one."""
    root = tmp_path_factory.mktemp("trained")
    archive = write_archive(root / "cifar-10-python.tar.gz", per_batch=PER_BATCH)
    prepare(str(archive), root / "prepared", val_size=50, split_seed=0, batch_images=PER_BATCH)
    recipe = TrainConfig.model_validate({
        "epochs": 2, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "schedule": {"name": "cosine"}, "test_subset": TEST_SUBSET})
    files = RunFiles(root / "run")
    train_run("demo", MODEL, recipe, load_splits(root / "prepared"), profile="smoke", device=CPU, files=files)
    return root / "prepared", files


def save_png(image: torch.Tensor, path: Path) -> Path:
    """A uint8 [3, H, W] tensor as a PNG file (lossless)."""
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
    return path


def run_main(main, argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a command's main(argv)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


# --- evaluate -------------------------------------------------------------------------------------------------

def test_evaluate_reproduces_the_runs_test_accuracy_with_a_consistent_confusion_matrix(trained):
    prepared, files = trained
    results, info = read_json(files.results), read_json(files.info)
    found = evaluate.evaluate_run(load_run(files.folder), prepared, CPU)
    assert found.accuracy == results["test_accuracy"] and found.own_test_set
    assert found.loss == pytest.approx(results["test_loss"], rel=1e-6)
    matrix = found.confusion.to_numpy()
    assert matrix.shape == (10, 10) and matrix.sum() == results["test_images"] == TEST_SUBSET
    assert list(found.confusion.index) == list(found.confusion.columns) == list(CLASSES)
    # Rows are actual classes: a row's sum is that class's test images, its diagonal cell the right answers.
    labels = load_splits(prepared).test.labels[:TEST_SUBSET].numpy()
    assert list(matrix.sum(axis=1)) == list(np.bincount(labels, minlength=10)) == list(found.per_class["images"])
    assert matrix.trace() / matrix.sum() == pytest.approx(found.accuracy)
    for i, name in enumerate(CLASSES):
        assert found.per_class.loc[name, "accuracy"] == pytest.approx(matrix[i, i] / matrix[i].sum())
        assert found.per_class.loc[name, "accuracy"] == pytest.approx(info["per_class_test_accuracy"][name])

    every = evaluate.evaluate_run(load_run(files.folder), prepared, CPU, batch_size=7, all_test_images=True)
    assert every.confusion.to_numpy().sum() == PER_BATCH and not every.own_test_set


def test_evaluate_prints_accuracy_beside_results_json_and_the_tables(trained, capsys):
    prepared, files = trained
    accuracy = read_json(files.results)["test_accuracy"]
    code, out, err = run_main(evaluate.main, [str(files.folder), "--data", str(prepared), "--device", "cpu"], capsys)
    assert code == 0 and err == ""
    assert f"test accuracy {accuracy:.4f} (results.json: {accuracy:.4f})" in out
    assert f"on {TEST_SUBSET} test images" in out and "note:" not in out
    header = out.split("confusion matrix (rows: actual class, columns: predicted class)\n")[1].splitlines()
    assert header[0].split() == ["predicted", *CLASSES] and header[1].split() == ["actual"]
    assert [line.split()[0] for line in header[2:12]] == list(CLASSES)
    assert max(map(len, out.splitlines()[1:])) <= 120  # all but the first line, which names the folders

    code, out, _ = run_main(evaluate.main, [str(files.folder), "--data", str(prepared), "--all-test-images"], capsys)
    assert code == 0 and f"on {PER_BATCH} test images" in out and "results.json" not in out

    # Other prepared data (another validation split): still evaluated, with a note that it is not the run's.
    other = prepared.with_name("other")
    prepare(read_json(prepared / "meta.json")["source"], other, val_size=40, split_seed=0, batch_images=PER_BATCH)
    code, out, _ = run_main(evaluate.main, [str(files.folder), "--data", str(other)], capsys)
    assert code == 0 and "\nnote: the run was trained on data from " in out


# --- preprocessing -------------------------------------------------------------------------------------------

def test_a_32x32_png_is_read_pixel_for_pixel(trained, tmp_path):
    prepared, _ = trained
    image = load_splits(prepared).test.images[0]
    assert torch.equal(read_image(save_png(image, tmp_path / "x.png")), image[None])


def test_any_size_becomes_its_centred_square_at_32x32(tmp_path):
    rng = np.random.default_rng(0)
    centre = rng.integers(0, 256, (90, 90, 3), dtype=np.uint8)
    wide = np.zeros((90, 150, 3), np.uint8)
    wide[:, :, 0] = 255  # red margins left and right, cropped away
    wide[:, 30:120] = centre
    tall = np.zeros((131, 90, 3), np.uint8)
    tall[20:110] = centre  # 20 rows above, 21 below: the centred square starts at row 20
    paths = {}
    for name, pixels in {"centre": centre, "wide": wide, "tall": tall}.items():
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(pixels).save(paths[name])
    expected = read_image(paths["centre"])
    assert expected.shape == (1, 3, 32, 32) and expected.dtype == torch.uint8
    assert torch.equal(read_image(paths["wide"]), expected) and torch.equal(read_image(paths["tall"]), expected)
    # Bicubic, antialiased: a flat image stays flat at any scale.
    Image.new("RGB", (640, 480), (10, 200, 30)).save(tmp_path / "flat.jpg", quality=100)
    assert (read_image(tmp_path / "flat.jpg")[0].float().mean((1, 2)) - torch.tensor([10., 200., 30.])).abs().max() < 3


def test_tiny_grey_transparent_and_rotated_images_are_read_as_rgb(tmp_path):
    Image.new("L", (5, 3), 77).save(tmp_path / "grey.png")
    assert torch.equal(read_image(tmp_path / "grey.png"), torch.full((1, 3, 32, 32), 77, dtype=torch.uint8))
    Image.new("RGBA", (40, 40), (1, 2, 3, 0)).save(tmp_path / "alpha.png")
    assert torch.equal(read_image(tmp_path / "alpha.png")[0, :, 0, 0], torch.tensor([1, 2, 3], dtype=torch.uint8))
    # EXIF orientation 6: stored on its side, shown turned 90 degrees clockwise; read as shown.
    pixels = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / "side.png", exif=exif)
    shown = torch.from_numpy(np.rot90(pixels, k=-1).copy()).permute(2, 0, 1)
    assert torch.equal(read_image(tmp_path / "side.png")[0], shown)


# --- predict -------------------------------------------------------------------------------------------------

def test_predictions_are_the_softmax_of_the_models_logits_sorted(trained, tmp_path, capsys):
    prepared, files = trained
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (3, 5, 3), dtype=np.uint8)).save(tmp_path / "b.png")
    paths = [tmp_path / "a.jpg", tmp_path / "b.png", save_png(load_splits(prepared).test.images[1], tmp_path / "c.png")]
    model = load_run(files.folder).model
    with torch.no_grad(), autocast(CPU):  # the precision the run trained in, as predict uses it
        direct = model(normalize(torch.cat([read_image(p) for p in paths]))).float().softmax(1)

    probs = predict.probabilities(load_run(files.folder).model, torch.cat([read_image(p) for p in paths]))
    assert torch.allclose(probs, direct, atol=1e-6)
    tops = predict.top_classes(probs, 3)
    for top, row in zip(tops, direct):
        values = [p for _, p in top]
        assert values == sorted(values, reverse=True) and sum(values) <= 1 + 1e-6
        assert [name for name, _ in top] == [CLASSES[i] for i in row.argsort(descending=True)[:3]]
        assert values == pytest.approx(row.sort(descending=True).values[:3].tolist(), abs=1e-6)

    code, out, err = run_main(predict.main, [str(files.folder), *map(str, paths), "--top", "4"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 3 * 5 and lines[::5] == list(map(str, paths))  # each path, then its four classes
    for i, row in enumerate(direct):
        printed = [line.split() for line in lines[5 * i + 1:5 * i + 5]]
        assert [rank for rank, *_ in printed] == ["1.", "2.", "3.", "4."]
        assert [name for _, name, _ in printed] == [CLASSES[c] for c in row.argsort(descending=True)[:4]]
        assert [float(p) for *_, p in printed] == pytest.approx(row.sort(descending=True).values[:4].tolist(),
                                                                 abs=5e-5)


def test_a_test_image_saved_as_png_is_predicted_as_evaluation_predicts_it(trained, tmp_path):
    prepared, files = trained
    test = load_splits(prepared).test
    evaluated = evaluation.evaluate(load_run(files.folder).model, test, 1000, CPU)
    read = torch.cat([read_image(save_png(image, tmp_path / f"{i}.png")) for i, image in enumerate(test.images)])
    assert torch.equal(read, test.images)
    probs = predict.probabilities(load_run(files.folder).model, read)
    assert (probs.argmax(1).numpy() == evaluated.predictions).all()
    assert probs.amax(1).numpy() == pytest.approx(evaluated.confidence, abs=1e-6)


# --- bad input: one line, exit status 2 ------------------------------------------------------------------------

@pytest.fixture
def broken(trained, tmp_path) -> dict[str, Path]:
    """Run folders with one thing wrong each, and bad image files."""
    _, files = trained
    made = {}
    for name in ("no_weights", "corrupt", "other_architecture", "other_tensors"):
        made[name] = shutil.copytree(files.folder, tmp_path / name)
    (made["no_weights"] / "weights.pt").unlink()
    (made["corrupt"] / "weights.pt").write_bytes((files.weights.read_bytes())[:500])
    other = OTHER.build()
    recorded = read_json(files.info)["config"]
    save_weights(made["other_architecture"] / "weights.pt", other, {**recorded, "model": OTHER.model_dump()})
    save_weights(made["other_tensors"] / "weights.pt", other, recorded)  # the right config, the wrong tensors
    for seed in (0, 1):  # a stage's folder of runs, as runs/stage4 holds seed_0, seed_1, ...
        shutil.copytree(files.folder, tmp_path / "runs" / f"seed_{seed}")
    made["runs"] = tmp_path / "runs"
    (tmp_path / "notes.png").write_text("not an image")
    made["not_an_image"] = tmp_path / "notes.png"
    made["image"] = save_png(torch.zeros(3, 32, 32, dtype=torch.uint8), tmp_path / "ok.png")
    return made


CASES = {  # case -> (command, arguments, what the line must say); RUN = the trained run, IMG = a good image
    "missing run folder": ("predict", ["{tmp}/nowhere", "IMG"], "no such run folder"),
    "missing run folder (evaluate)": ("evaluate", ["{tmp}/nowhere"], "no such run folder"),
    "no weights": ("predict", ["{no_weights}", "IMG"], "dvc pull"),
    "a folder of runs": ("evaluate", ["{runs}"], "holds several runs ({runs}/seed_0, {runs}/seed_1): give one"),
    "corrupt weights": ("evaluate", ["{corrupt}"], "cannot read weights"),
    "another architecture": ("predict", ["{other_architecture}", "IMG"], "weights were trained for model"),
    "tensors that do not fit": ("evaluate", ["{other_tensors}"], "tensors do not fit model baseline_cnn"),
    "missing image": ("predict", ["RUN", "IMG", "{tmp}/missing.png"], "no such image file"),
    "a folder as image": ("predict", ["RUN", "{tmp}"], "a folder, not an image file"),
    "not an image": ("predict", ["RUN", "{not_an_image}", "IMG"], "not an image Pillow can read"),
    "missing data folder": ("evaluate", ["RUN", "--data", "{tmp}/no_data"], "dvc repro download"),
    "bad --top": ("predict", ["RUN", "IMG", "--top", "11"], "--top must be a whole number from 1 to 10"),
    "no image given": ("predict", ["RUN"], "the following arguments are required: IMAGE"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_error_line_and_exit_status_2(case, trained, broken, tmp_path, capsys):
    command, args, says = CASES[case]
    places = {**{k: str(v) for k, v in broken.items()}, "tmp": str(tmp_path)}
    argv = [{"RUN": str(trained[1].folder), "IMG": str(broken["image"])}.get(a, a.format(**places)) for a in args]
    code, out, err = run_main({"predict": predict.main, "evaluate": evaluate.main}[command], argv, capsys)
    assert code == 2 and out == ""  # nothing printed for the good images either
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and says.format(**places) in err, err


def test_the_module_runs_as_a_command_and_says_what_to_do(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cifar10_study.predict", str(tmp_path / "runs/x"), "cat.png"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert "`dvc pull`" in result.stderr and "`dvc repro`" in result.stderr


@pytest.mark.parametrize("main", [predict.main, evaluate.main])
def test_help_describes_the_command(main, capsys):
    code, out, _ = run_main(main, ["--help"], capsys)
    assert code == 0 and "RUN_DIR" in out and "example: python -m cifar10_study." in out


def test_a_run_records_the_torch_thread_count_its_cpu_results_depend_on(trained):
    """CPU results agree to the last digit only at the same thread count: the report's header names it."""
    _, files = trained
    provenance = read_json(files.info)["provenance"]
    assert provenance["torch_threads"] == torch.get_num_threads() and provenance["seed"] == 0


# Every configuration's runs folder holds one folder per seed (runs/stage1/seed_<n>/): an example naming the
# configuration's folder would stop with "holds several runs".
def test_the_help_and_errors_give_one_runs_folder_as_the_example(capsys, tmp_path):
    _, out, _ = run_main(predict.main, ["--help"], capsys)
    _, _, err = run_main(predict.main, [str(tmp_path / "nowhere"), "cat.png"], capsys)
    examples = re.findall(r"runs/[\w/]+", out + err)
    assert examples and all(re.fullmatch(r"runs/\w+/seed_\d+", e) for e in examples), examples

